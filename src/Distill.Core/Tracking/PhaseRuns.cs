using System.Globalization;

namespace Distill.Core.Tracking;

/// <summary>
/// The child runs of a recipe run: one per phase (the teacher's training, then each stage), in the
/// run's experiment, named after the phase, with the phase's params and the tags distill.phase
/// ("teacher" or "student") and distill.phase_index. A resumed run resumes the child of the phase it resumes.
/// </summary>
internal static class PhaseRuns
{
    public const string PhaseTag = "distill.phase";
    public const string PhaseIndexTag = "distill.phase_index";

    /// <param name="role">"teacher" or "student": the distill.phase tag.</param>
    /// <param name="paramPrefixes">The recipe params the child run records: those whose key starts with one of these.</param>
    public static PhaseTracker Open(RunStore store, ITracker run, string phaseName, int phaseIndex, string role, IReadOnlyList<string> paramPrefixes,
        IReadOnlyDictionary<string, string> recipeParams)
    {
        string index = phaseIndex.ToString(CultureInfo.InvariantCulture);
        var parent = store.GetRun(run.RunId);
        var existing = store.GetChildRuns(parent.Id).FirstOrDefault(c => c.Tags.GetValueOrDefault(PhaseIndexTag) == index);
        var child = existing is null ? store.StartRun(parent.Experiment, phaseName, parent.Id) : store.ResumeRun(existing.Id);
        try
        {
            child.LogParams(recipeParams.Where(p => paramPrefixes.Any(prefix => p.Key.StartsWith(prefix, StringComparison.Ordinal)))
                .ToDictionary(p => p.Key, p => p.Value));
            child.SetTag(PhaseTag, role);
            child.SetTag(PhaseIndexTag, index);
            return new PhaseTracker(run, child);
        }
        catch
        {
            child.Dispose();
            throw;
        }
    }

    /// <summary>Runs the phase's training and ends its child run FINISHED, KILLED or FAILED accordingly.</summary>
    public static T Track<T>(PhaseTracker phase, Func<T> train)
    {
        T result;
        try
        {
            result = train();
        }
        catch (OperationCanceledException)
        {
            phase.End(RunStatus.Killed, "interrupted by the user (Ctrl-C or SIGTERM)");
            throw;
        }
        catch (Exception e)
        {
            phase.End(RunStatus.Failed, e.Message);
            throw;
        }
        phase.End(RunStatus.Finished);
        return result;
    }
}
