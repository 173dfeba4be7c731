namespace Distill.Core.Tracking;

public sealed partial class RunStore
{
    /// <summary>A tracker that adds metrics, tags and artifacts to an existing run without changing its status,
    /// end time or owner, e.g. to record an export of a finished run. Dispose it when done; do not End it.</summary>
    public ITracker AttachToRun(string runId)
    {
        RequireWritable("add to a run");
        string id;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            id = ResolveRunId(runId);
        }
        return CreateTracker(id);
    }
}
