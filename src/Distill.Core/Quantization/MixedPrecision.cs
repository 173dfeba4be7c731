using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Quantization.Sensitivity;
using Distill.Core.Training;

namespace Distill.Core.Quantization;

/// <summary>A quantize section's auto: what the per-layer choice between the stage's integer scheme and float must
/// meet: a largest validation accuracy drop against the float student, or a largest size of the layers' weights and
/// biases. Exactly one is set.</summary>
public sealed record MixedPrecisionTarget
{
    /// <summary>Largest validation accuracy drop, as a fraction (0.005 = half a point).</summary>
    public double? MaxDrop { get; init; }
    public long? SizeBudgetBytes { get; init; }
    /// <summary>Where auto is in the recipe (file:line:column), for messages.</summary>
    public string? Where { get; init; }

    public override string ToString() => MaxDrop is { } drop
        ? string.Create(CultureInfo.InvariantCulture, $"max_drop {drop:G4}")
        : string.Create(CultureInfo.InvariantCulture, $"size_budget_bytes {SizeBudgetBytes:N0}");
}

/// <summary>One configuration the search measured: the layers left in float, its validation accuracy after
/// calibration, and the bytes of its layers' weights and biases.</summary>
public sealed record MixedPrecisionStep(IReadOnlyList<string> FloatLayers, double Accuracy, long SizeBytes);

/// <summary>What the search chose and why. <see cref="Met"/> is false when no configuration met the target; the
/// choice is then the best one found (the most accurate for max_drop, the smallest for a size budget).</summary>
public sealed record MixedPrecisionChoice(MixedPrecisionTarget Target, IReadOnlyList<string> FloatLayers, double FloatAccuracy, double Accuracy,
    long SizeBytes, long AllIntegerBytes, long AllFloatBytes, bool Met, IReadOnlyList<LayerSensitivity> Sensitivity, IReadOnlyList<MixedPrecisionStep> Steps)
{
    public string Summary
    {
        get
        {
            string layers = FloatLayers.Count == 0 ? "every layer integer" : "float " + string.Join(", ", FloatLayers);
            string outcome = Met ? "target met" : "target NOT met: kept the best configuration found";
            return string.Create(CultureInfo.InvariantCulture,
                $"{Target}: {layers}; validation accuracy after calibration {Accuracy:P2} (float {FloatAccuracy:P2}, drop {(FloatAccuracy - Accuracy) * 100:F2} pt), " +
                $"layers {SizeBytes:N0} bytes (all integer {AllIntegerBytes:N0}, all float {AllFloatBytes:N0}); {outcome}");
        }
    }
}

/// <summary>
/// Automatic mixed precision: chooses which conv and linear layers stay in float and which take the stage's integer
/// scheme. Each layer's sensitivity is measured alone (<see cref="ClassifierSensitivity"/>, on the validation split);
/// then, most sensitive first, layers go to float — for max_drop until the calibrated model's validation accuracy is
/// within the drop of the float student's (each step measured, not predicted), for a size budget while the layers'
/// bytes stay within it. Greedy by sensitivity; each step is a post-training calibration and one validation pass.
/// </summary>
public static class MixedPrecision
{
    public static MixedPrecisionChoice Choose(ZooModel student, QuantConfig config, MixedPrecisionTarget target, TensorDataset calibration, TensorDataset validation,
        int calibrationBatches, int batchSize, int seed, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(validation);
        if (validation.Count == 0)
            throw new InvalidInputException($"{(target.Where is null ? "" : target.Where + ": ")}quantize.auto measures accuracy on the validation split, which is empty; set data.validation_fraction above 0");
        List<QuantLayerInfo> layers;
        using (var probe = new QuantizedZooModel(student, config))
            layers = [.. probe.Layers];
        var candidates = layers.Where(l => !l.IsFloat).Select(l => l.Name).ToList();
        var userFloat = layers.Where(l => l.IsFloat).Select(l => l.Name).ToHashSet();

        int bits = config.Weights.Bits;
        var report = ClassifierSensitivity.Analyze(student, "", calibration, validation, [bits], calibrationBatches, batchSize, seed, cancel);
        var ranked = report.Layers.Where(r => candidates.Contains(r.Layer))
            .OrderByDescending(r => r.Loss).ThenBy(r => r.SqnrDb ?? double.PositiveInfinity).ToList();
        double floatAccuracy = report.Baseline;

        long Size(IEnumerable<string> floats)
        {
            var set = floats.Concat(userFloat).ToHashSet();
            long bytes = 0;
            foreach (var layer in layers)
            {
                var node = student.Graph[layer.Name];
                // Every exported layer has a bias: its own, or the one folding its batch norm gives it.
                long weights = node.Weight.numel(), biases = node.Weight.shape[0];
                int layerBits = set.Contains(layer.Name) ? 32 : layer.Weights?.Bits ?? bits;
                bytes += (weights * layerBits + 7) / 8 + (4 * biases);
            }
            return bytes;
        }

        var steps = new List<MixedPrecisionStep>();
        MixedPrecisionStep Measure(List<string> floats)
        {
            cancel.ThrowIfCancellationRequested();
            var trial = config with { Overrides = [.. config.Overrides, .. floats.Select(f => new LayerOverride { Pattern = f, Float = true })] };
            using var quantized = PostTrainingCalibrator.Calibrate(student, calibration, calibrationBatches, batchSize, trial, seed, cancel);
            var step = new MixedPrecisionStep([.. floats], Evaluator.Evaluate(quantized, validation, cancel: cancel).Accuracy, Size(floats));
            steps.Add(step);
            return step;
        }

        long allInteger = Size([]), allFloat = Size(candidates);
        var chosen = new List<string>();
        MixedPrecisionStep result;
        bool met;
        if (target.MaxDrop is { } maxDrop)
        {
            result = Measure(chosen);
            var best = result;
            foreach (var layer in ranked)
            {
                if (floatAccuracy - result.Accuracy <= maxDrop)
                    break;
                chosen.Add(layer.Layer);
                result = Measure(chosen);
                if (result.Accuracy > best.Accuracy)
                    best = result;
            }
            met = floatAccuracy - result.Accuracy <= maxDrop;
            result = met ? result : best;
        }
        else
        {
            long budget = target.SizeBudgetBytes!.Value;
            met = allInteger <= budget;
            if (met)
            {
                foreach (var layer in ranked)
                {
                    if (Size([.. chosen, layer.Layer]) <= budget)
                        chosen.Add(layer.Layer);
                }
            }
            result = Measure(chosen);
        }
        return new MixedPrecisionChoice(target, result.FloatLayers, floatAccuracy, result.Accuracy, result.SizeBytes, allInteger, allFloat, met, ranked, steps);
    }
}
