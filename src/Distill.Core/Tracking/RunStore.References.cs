using System.Globalization;

namespace Distill.Core.Tracking;

/// <summary>Finding the file a <see cref="RunReference"/> means.</summary>
public sealed partial class RunStore
{
    /// <summary>
    /// The run and artifact file a reference names. The run part is, in this order:
    /// a full id (32 hex digits): that run, whatever its name;
    /// a run name: the newest FINISHED top-level run of that name (deleted runs do not count);
    /// hex digits that are no run's name: a unique prefix of a run id, as <see cref="GetRun"/> takes it.
    /// A hex string that is both a FINISHED run's name and the start of a run id is refused as ambiguous, so that a new
    /// run whose id happens to start with a name never silently changes what a recipe loads.
    /// The artifact must be registered in the run and lie inside its folder (<see cref="ResolveArtifact"/>: a symbolic
    /// link out of the folder is refused).
    /// </summary>
    /// <exception cref="RunNotFoundException">No run has that id, prefix or name (with a FINISHED run).</exception>
    /// <exception cref="InvalidInputException">Ambiguous, or the run has no such artifact.</exception>
    public ResolvedReference Resolve(RunReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        string needle = reference.Run.ToLowerInvariant();
        List<RunRecord> named;
        List<(string Id, string Label)> ids;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            named = reference.IsFullId ? [] : LoadRuns(
                "r.name = @name AND r.status = 'FINISHED' AND r.deleted_time IS NULL AND r.parent_run_id IS NULL", ("@name", reference.Run));
            ids = reference.MayBeId
                ? ReadCandidates("r.id >= @low AND r.id < @high", 2, ("@low", needle), ("@high", needle + "g"))
                : [];
        }
        if (named.Count > 0 && ids.Count > 0)
        {
            throw new InvalidInputException(
                $"'{reference.Run}' in {reference} is both the name of FINISHED run {named[0].Id} and the start of run id {ids[0].Id} " +
                $"in store {Directory}; write the full id of the one you mean: {RunReference.Scheme}<id>/{reference.ArtifactPath}");
        }
        RunRecord run;
        if (named.Count > 0)
            run = named[0];
        else if (ids.Count > 0)
            run = GetRun(needle);
        else
            throw new RunNotFoundException(NotFound(reference));
        return new ResolvedReference(run, ResolveArtifact(run.Id, reference.ArtifactPath));
    }

    private string NotFound(RunReference reference)
    {
        string what = reference.IsFullId ? $"no run {reference.Run}"
            : reference.MayBeId ? $"no FINISHED run named {reference.Run} and no run whose id starts with '{reference.Run.ToLowerInvariant()}'"
            : $"no FINISHED run named {reference.Run}";
        string message = $"{what} in store {Directory}";
        if (reference.IsFullId)
            return message;
        List<RunRecord> unfinished;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            unfinished = LoadRuns("r.name = @name AND r.deleted_time IS NULL AND r.parent_run_id IS NULL", ("@name", reference.Run));
        }
        if (unfinished.Count == 0)
            return message;
        return message + "; runs of that name that did not finish: " + string.Join(", ",
            unfinished.Take(CandidatesShown).Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Id} {RunStatusText.ToText(r.Status)}")));
    }

    /// <summary>The store in <paramref name="directory"/> if one was created there; null (nothing created) otherwise.</summary>
    public static RunStore? OpenExisting(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        return File.Exists(Path.Combine(Path.GetFullPath(directory), StoreSchema.DatabaseFileName)) ? Open(directory) : null;
    }
}
