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

    /// <param name="stageIndex">The index in the recipe's stages; ignored for the teacher.</param>
    public static PhaseTracker Open(RunStore store, ITracker run, string phaseName, int phaseIndex, bool isTeacher, int stageIndex,
        IReadOnlyDictionary<string, string> recipeParams)
    {
        string index = phaseIndex.ToString(CultureInfo.InvariantCulture);
        var parent = store.GetRun(run.RunId);
        var existing = store.GetChildRuns(parent.Id).FirstOrDefault(c => c.Tags.GetValueOrDefault(PhaseIndexTag) == index);
        var child = existing is null ? store.StartRun(parent.Experiment, phaseName, parent.Id) : store.ResumeRun(existing.Id);
        try
        {
            string[] prefixes = isTeacher ? ["teacher."] : [ParamKeys.Item("stages", stageIndex) + ".", "student."];
            child.LogParams(recipeParams.Where(p => prefixes.Any(prefix => p.Key.StartsWith(prefix, StringComparison.Ordinal)))
                .ToDictionary(p => p.Key, p => p.Value));
            child.SetTag(PhaseTag, isTeacher ? "teacher" : "student");
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
