namespace Distill.Core.Tracking;

public sealed record TrackingOptions
{
    /// <summary>Folder of the embedded store; null = the caller's default (--store, DISTILL_STORE, ./distill-runs).</summary>
    public string? Store { get; init; }
    public string Experiment { get; init; } = "default";

    /// <summary>http(s) URL of an MLflow tracking server that also gets the run; null = the caller's default (--tracking-uri, MLFLOW_TRACKING_URI, none).</summary>
    public string? Uri { get; init; }
}
