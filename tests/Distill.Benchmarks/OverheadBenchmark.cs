namespace Distill.Benchmarks;

public sealed record OverheadResult(
    int Repetitions,
    string Timed,
    IReadOnlyList<EpochTiming> Distill,
    IReadOnlyList<EpochTiming> Hand,
    IReadOnlyList<double> MaxWeightDifferenceAfterEpoch,
    double DistillEpochMedianSeconds,
    double HandEpochMedianSeconds,
    double Ratio,
    double DistillLoopMedianSeconds,
    double HandLoopMedianSeconds,
    double LoopRatio,
    double DistillCacheBuildSeconds,
    double HandCacheBuildSeconds,
    IReadOnlyList<StepCost> StepCosts,
    long StepsPerEpoch,
    double StepCostsExtraMillisecondsPerEpoch,
    double StepCostsExtraPercentOfHandEpoch,
    bool WithinTenPercent);

/// <summary>Distill's StageTrainer against a minimal hand-written loop, with the teacher logits cached
/// (the default, and the strictest case: the least compute per step). One StageTrainer phase of
/// 1 + N epochs; after each of its epochs the hand loop runs the same epoch on its own student, so
/// the two alternate (A B A B …) and epoch 0 of each is the warm-up.</summary>
public static class OverheadBenchmark
{
    public const string Timed =
        "one KD epoch with cached teacher logits = 141 optimiser steps + the validation pass (1,000 samples), " +
        "from StageTrainer's own epoch stopwatch (Distill) and the same span of the hand loop (which does the same validation); " +
        "the one-off teacher-cache build is outside it and shown on its own";

    public static OverheadResult Run(BenchContext context, int repetitions, Action<string> log)
    {
        using var distill = new DistillSession(context, cacheTeacher: true, epochs: repetitions + 1, "overhead");
        using var hand = new HandSession(context, cacheTeacher: true);
        var handEpochs = new List<EpochTiming>();
        var weightDifferences = new List<double>();
        distill.RunAll(epoch =>
        {
            string warm = epoch == 0 ? " (warm-up)" : "";
            log($"overhead: epoch {epoch}{warm} Distill {distill.Epochs[^1].EpochSeconds:F3} s");
            handEpochs.Add(hand.RunEpoch(epoch));
            weightDifferences.Add(WeightCheck.MaxDifference(distill.Student, hand.Student));
            log($"overhead: epoch {epoch}{warm} hand    {handEpochs[^1].EpochSeconds:F3} s, max |weight diff| {weightDifferences[^1]:G3}");
        });
        double distillBuild = distill.LastSetupSeconds;

        log("overhead: step-part micro-benchmarks");
        var costs = StepCosts.Measure(context);

        var distillTimed = distill.Epochs.Skip(1).ToList();
        var handTimed = handEpochs.Skip(1).ToList();
        double distillEpoch = Stats.Median(distillTimed.Select(e => e.EpochSeconds));
        double handEpoch = Stats.Median(handTimed.Select(e => e.EpochSeconds));
        double distillLoop = Stats.Median(distillTimed.Select(e => e.LoopSeconds));
        double handLoop = Stats.Median(handTimed.Select(e => e.LoopSeconds));
        double extraMs = costs.Sum(c => c.ExtraMicros) * context.StepsPerEpoch / 1000.0;
        return new OverheadResult(
            repetitions,
            Timed,
            distill.Epochs.ToList(),
            handEpochs,
            weightDifferences,
            distillEpoch,
            handEpoch,
            distillEpoch / handEpoch,
            distillLoop,
            handLoop,
            distillLoop / handLoop,
            distillBuild,
            hand.SetupSeconds,
            costs,
            context.StepsPerEpoch,
            extraMs,
            100 * extraMs / 1000.0 / handEpoch,
            distillEpoch / handEpoch <= 1.10);
    }
}
