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
    /// <summary>The items the server refused in this pass (each is refused once: later passes leave it out).</summary>
    public IReadOnlyList<MlflowRefusal> Refused { get; init; } = [];

    public bool SentNothing => !Created && Metrics == 0 && Params == 0 && Tags == 0 && Artifacts == 0 && Status is null && Refused.Count == 0;

    /// <summary>One line per refused item, for a warning, e.g. "param 'a b' (value '1'): Invalid parameter name …".</summary>
    public IEnumerable<string> RefusalLines() =>
        Refused.Select(r => r.Kind == "metric"
            ? $"metric '{TrackingNames.Printable(r.Key)}' (all its points): {r.Reason}"
            : $"{r.Kind} '{TrackingNames.Printable(r.Key)}' = '{Shorten(r.Value)}': {r.Reason}");

    private static string Shorten(string value) =>
        TrackingNames.Printable(value.Length <= 80 ? value : value[..80] + "…");
}
