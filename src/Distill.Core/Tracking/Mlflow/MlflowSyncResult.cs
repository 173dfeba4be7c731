namespace Distill.Core.Tracking.Mlflow;

/// <summary>What one sync pass sent for a local run.</summary>
/// <param name="ArtifactsSkipped">Why artifacts were not sent (the server does not proxy them, or a symbolic link leads out of the run's folder), else null.</param>
public sealed record MlflowSyncResult(
    string RunId,
    string RemoteRunId,
    string ExperimentId,
    bool Created,
    int Metrics,
    int Params,
    int Tags,
    int Artifacts,
    string? Status,
    string? ArtifactsSkipped)
{
    public bool SentNothing => !Created && Metrics == 0 && Params == 0 && Tags == 0 && Artifacts == 0 && Status is null;
}
