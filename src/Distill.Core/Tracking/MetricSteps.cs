namespace Distill.Core.Tracking;

/// <summary>
/// What a metric's step counts. The trainers log <see cref="StepLoss"/> and <see cref="LearningRate"/> once per
/// optimiser step (the global step, counted across the phases of a run) and every other training metric once per
/// epoch, with the epoch (counted across phases, from 1) as its step. Final figures are logged once.
/// </summary>
public static class MetricSteps
{
    public const string StepLoss = "train/step_loss";
    public const string LearningRate = "train/lr";

    /// <summary>True for <see cref="StepLoss"/> and <see cref="LearningRate"/>, also under a prefix (teacher/train/lr).</summary>
    public static bool IsPerStep(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Is(key, StepLoss) || Is(key, LearningRate);
    }

    /// <summary>"step" or "epoch": the x axis of the metric's curve.</summary>
    public static string Axis(string key) => IsPerStep(key) ? "step" : "epoch";

    private static bool Is(string key, string metric) => key == metric || key.EndsWith("/" + metric, StringComparison.Ordinal);
}
