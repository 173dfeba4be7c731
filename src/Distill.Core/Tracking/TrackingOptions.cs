namespace Distill.Core.Tracking;

public sealed record TrackingOptions
{
    /// <summary>Folder of the embedded store; null = the caller's default (--store, DISTILL_STORE, ./distill-runs).</summary>
    public string? Store { get; init; }
    public string Experiment { get; init; } = "default";
}
