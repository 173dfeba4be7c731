using Distill.Core.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Text;

public enum Int4Method { Rtn, Gptq }

/// <summary>How the linear layers of a 4-bit language-model export are quantised: groups of <paramref name="GroupSize"/>
/// inputs (a power of two, 16..256, dividing every layer's input size), symmetric (zero point 8) or with a zero point
/// per group, by round-to-nearest or GPTQ calibrated on <paramref name="CalibrationWindows"/> windows of training text.
/// <paramref name="AccuracyLevel"/> is ONNX Runtime's MatMulNBits accuracy_level (0: float activations; 4: the
/// activations are quantised to int8 per group and the sums are integer). The tied head stays fp32. With
/// <paramref name="Auto"/>, <see cref="LmMixedPrecision"/> chooses which layers stay float.</summary>
public sealed record LmInt4Weights(
    int GroupSize = 32,
    bool Symmetric = true,
    Int4Method Method = Int4Method.Gptq,
    int AccuracyLevel = 0,
    int CalibrationWindows = 64,
    double Damp = 0.01,
    LmInt4Auto? Auto = null)
{
    public static IReadOnlyList<int> GroupSizes { get; } = [16, 32, 64, 128, 256];

    public static string MethodName(Int4Method method) => method == Int4Method.Gptq ? "gptq" : "rtn";

    /// <summary>The first layer whose input size the group size does not divide, with the group sizes that divide
    /// every layer, as a message; null when it divides them all.</summary>
    public string? GroupProblem(TransformerLm model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var layers = LmInt4Quantizer.Layers(model);
        var bad = layers.FirstOrDefault(l => l.Inputs % GroupSize != 0);
        if (bad.Name is null)
            return null;
        var fitting = GroupSizes.Where(g => layers.All(l => l.Inputs % g == 0)).ToList();
        return $"int4.group_size: {GroupSize} does not divide {bad.Name}'s input size {bad.Inputs}; " +
            (fitting.Count == 0 ? "no group size of 16..256 divides every layer's input size" : $"use {string.Join(" or ", fitting)}");
    }
}

/// <summary>Quantises the four linear layers of each block of a <see cref="TransformerLm"/> to 4-bit groups
/// (<see cref="GroupQuantizedMatrix"/>). GPTQ goes through the layers in forward order; each one's Hessian comes from
/// the inputs it receives when the layers before it already compute with their quantised weights, so later layers
/// correct for the error of earlier ones. The model's weights are restored afterwards.</summary>
public static class LmInt4Quantizer
{
    private const int CalibrationBatch = 16;

    /// <summary>Name, module and input size of each quantised layer, in forward order.</summary>
    internal static List<(string Name, Linear Module, int Inputs)> Layers(TransformerLm model) =>
        [.. model.Layers.Where(l => l.Module is Linear).Select(l => (l.Name, (Linear)l.Module!, (int)((Linear)l.Module!).weight!.shape[1]))];

    /// <param name="calibration">Token windows for GPTQ (the first <see cref="LmInt4Weights.CalibrationWindows"/> spread
    /// over them); not read by round-to-nearest.</param>
    /// <param name="keepFloat">Layers left out (they stay float; GPTQ's later layers see their float outputs).</param>
    public static Dictionary<string, GroupQuantizedMatrix> Quantize(TransformerLm model, LmInt4Weights options, TokenWindows? calibration,
        IReadOnlySet<string>? keepFloat = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (options.GroupProblem(model) is { } problem)
            throw new InvalidInputException(problem);
        var layers = Layers(model).Where(l => keepFloat?.Contains(l.Name) != true).ToList();
        var result = new Dictionary<string, GroupQuantizedMatrix>();
        if (options.Method == Int4Method.Rtn)
        {
            foreach (var (name, module, inputs) in layers)
            {
                var (weight, rows) = Weight(module);
                result[name] = GroupQuantizedMatrix.RoundToNearest(weight, rows, inputs, options.GroupSize, options.Symmetric);
            }
            return result;
        }

        if (calibration is null || calibration.Count == 0)
            throw new InvalidInputException("GPTQ needs calibration text: no windows were given");
        using var windows = calibration.Spread(Math.Min(options.CalibrationWindows, calibration.Count));
        var originals = layers.Select(l => Weight(l.Module).Values).ToList();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            foreach (var (name, module, inputs) in layers)
            {
                cancel.ThrowIfCancellationRequested();
                var hessian = Hessian(model, module, inputs, windows);
                var (weight, rows) = Weight(module);
                var quantized = Gptq.Quantize(weight, rows, inputs, hessian, options.GroupSize, options.Symmetric, options.Damp);
                result[name] = quantized;
                SetWeight(module, quantized.Dequantize());
            }
        }
        finally
        {
            for (int i = 0; i < layers.Count; i++)
                SetWeight(layers[i].Module, originals[i]);
            model.train(wasTraining);
        }
        return result;
    }

    /// <summary>2/n · Σ x xᵀ over every position of the windows, x the layer's input.</summary>
    internal static double[] Hessian(TransformerLm model, Linear layer, int inputs, TokenWindows windows)
    {
        using var sum = zeros(inputs, inputs, ScalarType.Float64);
        long count = 0;
        var hook = layer.register_forward_pre_hook((_, x) =>
        {
            using var rows = x.detach().reshape(-1, inputs).to_type(ScalarType.Float64);
            using var product = rows.t().mm(rows);
            sum.add_(product, ScalarMath.One);
            count += rows.shape[0];
            return x;
        });
        try
        {
            using var noGrad = no_grad();
            for (long start = 0; start < windows.Count; start += CalibrationBatch)
            {
                using var scope = NewDisposeScope();
                var (tokens, _) = windows.Slice(start, Math.Min(CalibrationBatch, windows.Count - start));
                model.forward(tokens);
            }
        }
        finally
        {
            hook.remove();
        }
        var h = sum.cpu().contiguous().data<double>().ToArray();
        double factor = 2.0 / Math.Max(count, 1);
        for (int i = 0; i < h.Length; i++)
            h[i] *= factor;
        return h;
    }

    internal static (float[] Values, int Rows) Weight(Linear layer)
    {
        using var w = layer.weight!.detach().cpu().to_type(ScalarType.Float32).contiguous();
        return (w.data<float>().ToArray(), (int)w.shape[0]);
    }

    internal static void SetWeight(Linear layer, float[] values)
    {
        using var noGrad = no_grad();
        var weight = layer.weight!;
        using var source = tensor(values, weight.shape).to(weight.device).to_type(weight.dtype);
        weight.copy_(source);
    }
}
