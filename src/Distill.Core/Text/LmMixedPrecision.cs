using Distill.Core.Quantization;
using Distill.Core.Quantization.Sensitivity;

namespace Distill.Core.Text;

/// <summary>The target of an automatic int4 choice for a language model: exactly one of a largest rise in validation
/// bits per byte over the float model, or a largest weight size in bytes.</summary>
public sealed record LmInt4Auto(double? MaxDrop = null, long? SizeBudgetBytes = null)
{
    public string Describe() => MaxDrop is { } drop
        ? $"max_drop {drop.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture)} bits per byte"
        : $"size_budget_bytes {SizeBudgetBytes:N0}";
}

/// <summary>One measured configuration: the layers left in float, and the validation bits per byte with the rest in
/// int4 groups.</summary>
public sealed record LmMixedPrecisionStep(IReadOnlyList<string> FloatLayers, double BitsPerByte, long WeightBytes);

/// <summary>What the automatic choice settled on, and how it got there.</summary>
/// <param name="Sensitivity">Each layer's rise in bits per byte when it alone is in int4 (round to nearest), most
/// sensitive first: the order layers go back to float in.</param>
public sealed record LmMixedPrecisionChoice(
    LmInt4Auto Target,
    double FloatBitsPerByte,
    IReadOnlyList<(string Layer, double Delta)> Sensitivity,
    IReadOnlyList<LmMixedPrecisionStep> Steps,
    bool Met)
{
    public LmMixedPrecisionStep Chosen => Steps[^1];
}

/// <summary>Chooses which linear layers of a language model stay float in an int4 export. max_drop: all layers in int4
/// first, quantised with the profile's method and measured on the validation windows in TorchSharp; while the rise
/// over the float model exceeds the target, the next most sensitive layer goes back to float and the rest is quantised
/// and measured again (measured, not predicted; with every layer float the rise is 0, so the target is always met in
/// the end). size_budget_bytes: the weight bytes of the file (int4 layers as MatMulNBits codes, scales and zero
/// points; everything else fp32) must fit with every layer in int4, else it is not met and all stay int4; then layers
/// go back to float in sensitivity order while they fit, and that configuration is measured.</summary>
public static class LmMixedPrecision
{
    public static (LmMixedPrecisionChoice Choice, Dictionary<string, GroupQuantizedMatrix> Layers) Choose(
        TransformerLm model, LmInt4Weights options, LmInt4Auto target, ITokenizer tokenizer, TokenWindows validation, TokenWindows calibration,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(target);
        var report = LmSensitivity.Analyze(model, tokenizer, validation, calibration, [4], options.GroupSize, options.CalibrationWindows, cancel);
        var order = report.Layers.OrderByDescending(l => l.Loss).ThenBy(l => l.SqnrDb ?? double.MaxValue).Select(l => (l.Layer, l.Loss)).ToList();
        var steps = new List<LmMixedPrecisionStep>();
        var floats = new List<string>();

        (LmMixedPrecisionStep Step, Dictionary<string, GroupQuantizedMatrix> Layers) Measure()
        {
            var layers = LmInt4Quantizer.Quantize(model, options, calibration, floats.ToHashSet(), cancel);
            double bpb = WithWeights(model, layers, () => LmEvaluator.Evaluate(model, validation, tokenizer, LmSensitivity.EvaluationBatch, cancel).BitsPerByte);
            var step = new LmMixedPrecisionStep([.. floats], bpb, WeightBytes(model, options, floats));
            steps.Add(step);
            return (step, layers);
        }

        bool met;
        Dictionary<string, GroupQuantizedMatrix> chosen;
        if (target.MaxDrop is { } maxDrop)
        {
            var (step, layers) = Measure();
            foreach (var (layer, _) in order)
            {
                if (step.BitsPerByte - report.Baseline <= maxDrop)
                    break;
                floats.Add(layer);
                (step, layers) = Measure();
            }
            met = step.BitsPerByte - report.Baseline <= maxDrop;
            chosen = layers;
        }
        else
        {
            long budget = target.SizeBudgetBytes ?? throw new ArgumentException("a target needs max_drop or size_budget_bytes", nameof(target));
            met = WeightBytes(model, options, []) <= budget;
            if (met)
            {
                foreach (var (layer, _) in order)
                {
                    if (WeightBytes(model, options, [.. floats, layer]) > budget)
                        break;
                    floats.Add(layer);
                }
            }
            chosen = Measure().Layers;
        }
        return (new LmMixedPrecisionChoice(target, report.Baseline, order, steps, met), chosen);
    }

    /// <summary>Bytes of the model's parameters in the file: each int4 layer's packed codes (half a byte a weight), fp32
    /// scales per group and, when asymmetric, packed zero points; every other parameter (float layers, embeddings,
    /// LayerNorms, biases) four bytes.</summary>
    public static long WeightBytes(TransformerLm model, LmInt4Weights options, IReadOnlyCollection<string> floatLayers)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        long total = 4 * model.ParameterCount;
        foreach (var (name, module, inputs) in LmInt4Quantizer.Layers(model))
        {
            if (floatLayers.Contains(name))
                continue;
            long rows = module.weight!.shape[0];
            long groups = inputs / options.GroupSize;
            long int4 = (rows * inputs / 2) + (rows * groups * 4) + (options.Symmetric ? 0 : rows * ((groups + 1) / 2));
            total += int4 - (4 * rows * inputs);
        }
        return total;
    }

    private static T WithWeights<T>(TransformerLm model, IReadOnlyDictionary<string, GroupQuantizedMatrix> layers, Func<T> measure)
    {
        var modules = LmInt4Quantizer.Layers(model).Where(l => layers.ContainsKey(l.Name)).ToList();
        var originals = modules.Select(l => LmInt4Quantizer.Weight(l.Module).Values).ToList();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            foreach (var (name, module, _) in modules)
                LmInt4Quantizer.SetWeight(module, layers[name].Dequantize());
            return measure();
        }
        finally
        {
            for (int i = 0; i < modules.Count; i++)
                LmInt4Quantizer.SetWeight(modules[i].Module, originals[i]);
            model.train(wasTraining);
        }
    }
}
