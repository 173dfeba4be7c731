namespace Distill.Core.Tracking;

/// <summary>
/// What one phase of a recipe run trains with: metrics, params and tags go both to the run and to
/// the phase's child run; artifacts (checkpoints) belong to the run. <see cref="RunId"/> and
/// <see cref="ArtifactDirectory"/> are the run's. <see cref="End"/> and <see cref="Dispose"/> end
/// and close the child run only: the run goes on after the phase.
/// </summary>
internal sealed class PhaseTracker(ITracker run, ITracker phase) : ITracker
{
    public string RunId => run.RunId;

    public string ArtifactDirectory => run.ArtifactDirectory;

    public string PhaseRunId => phase.RunId;

    public void LogParams(IReadOnlyDictionary<string, string> parameters)
    {
        run.LogParams(parameters);
        phase.LogParams(parameters);
    }

    public void LogMetric(string key, double value, long step)
    {
        run.LogMetric(key, value, step);
        phase.LogMetric(key, value, step);
    }

    public void Flush()
    {
        run.Flush();
        phase.Flush();
    }

    public void SetTag(string key, string value)
    {
        run.SetTag(key, value);
        phase.SetTag(key, value);
    }

    public void LogArtifact(string localPath, string? artifactPath = null) => run.LogArtifact(localPath, artifactPath);

    public void RegisterArtifact(string artifactPath) => run.RegisterArtifact(artifactPath);

    public void End(RunStatus status, string? error = null) => phase.End(status, error);

    public void Dispose() => phase.Dispose();
}
