using Distill.Core.Models;
using Distill.Core.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Export.Tflite;

/// <summary>The constants of one conv or linear layer, in PyTorch layout ([O, I, kH, kW] or [O, I]).</summary>
/// <param name="Weight">float32 weights, or the int8 codes (as int64) of an integer model.</param>
/// <param name="WeightQuant">Per-channel (axis 0) or per-tensor qparams of the codes; null in float.</param>
/// <param name="FloatBias">float32 bias of a float model.</param>
/// <param name="IntBias">int32 bias of an integer model, at scale in_scale·w_scale.</param>
/// <param name="OutputQuant">qparams of the layer's output (after its ReLU); null in float.</param>
internal sealed record LayerConstants(Tensor Weight, QParams? WeightQuant, float[]? FloatBias, int[]? IntBias, QParams? OutputQuant);

/// <summary>Where the lowering takes each layer's weights from: the float model or a frozen quantised wrapper.</summary>
internal interface ILayerSource
{
    bool IsInteger { get; }

    /// <summary>qparams of the model input (integer models).</summary>
    QParams? InputQuant { get; }

    /// <summary>The constants of layer <paramref name="name"/> ("block0.conv", "head.out", …) whose input
    /// has <paramref name="inputQuant"/> (integer models). Tensors belong to the caller's dispose scope.</summary>
    LayerConstants Layer(string name, QParams? inputQuant);

    /// <summary>qparams of the output of a residual add or a global average pool <paramref name="node"/> (its
    /// quantiser "{node}.output"; integer models), null in float.</summary>
    QParams? JoinOutput(string node);
}

/// <summary>The float model in inference mode: batch norms folded with their running statistics.</summary>
internal sealed class FloatLayerSource(ZooModel model) : ILayerSource
{

    public bool IsInteger => false;
    public QParams? InputQuant => null;
    public QParams? JoinOutput(string node) => null;

    public LayerConstants Layer(string name, QParams? inputQuant)
    {
        var layer = model.Graph.Layer(name);
        var (module, bn) = (layer.Node.Module, layer.Bn);
        var (weight, bias) = module switch
        {
            Conv2d conv when bn is not null => BnFolding.Fold(conv, bn),
            Conv2d conv => (conv.weight!, conv.bias),
            Linear linear => (linear.weight!, linear.bias),
            _ => throw new InvalidInputException($"layer '{name}' ({module?.GetType().Name}) cannot be lowered to TFLite."),
        };
        var floatBias = bias is null ? new float[weight.shape[0]] : bias.detach().contiguous().data<float>().ToArray();
        return new LayerConstants(weight.detach(), null, floatBias, null, null);
    }
}

/// <summary>A frozen <see cref="QuantizedZooModel"/>: its effective (folded) weights quantised with its frozen
/// qparams, exactly the codes its fake-quantisation computes with.</summary>
internal sealed class Int8LayerSource : ILayerSource
{
    private readonly QuantizedZooModel _quantized;
    private readonly Dictionary<string, QuantLayerInfo> _infos;
    private readonly Dictionary<string, QParams> _params;

    private Int8LayerSource(QuantizedZooModel quantized, QParams inputQuant)
    {
        _quantized = quantized;
        _infos = quantized.Layers.ToDictionary(l => l.Name);
        _params = quantized.QuantParameters().ToDictionary(p => p.Name, p => p.Params);
        InputQuant = inputQuant;
    }

    public bool IsInteger => true;
    public QParams? InputQuant { get; }

    public static Int8LayerSource Create(ZooModel model, QuantizedZooModel? quantized)
    {
        if (quantized is null)
        {
            throw new InvalidInputException("An int8 TFLite export needs the model quantised and calibrated (a frozen QuantizedZooModel); none was given.");
        }
        if (!ReferenceEquals(quantized.Model, model))
        {
            throw new ArgumentException("the quantised model wraps a different zoo model than the one exported", nameof(quantized));
        }
        if (!quantized.IsFrozen)
        {
            throw new InvalidInputException("An int8 TFLite export needs frozen quantisation parameters: calibrate the quantised model, then freeze it.");
        }
        if (quantized.Layers.FirstOrDefault(l => l.FloatWeights) is { } stem)
        {
            throw new InvalidInputException($"layer '{stem.Name}' cannot be lowered to full-integer TFLite: it keeps float weights (first_layer: float).");
        }
        var input = quantized.QuantParameters().FirstOrDefault(p => p.Name == "input")?.Params
            ?? throw new InvalidInputException("layer 'input' cannot be lowered to full-integer TFLite: the model input is not quantised (quantize_input is off).");
        RequireActivationScheme("input", input);
        return new Int8LayerSource(quantized, input);
    }

    public LayerConstants Layer(string name, QParams? inputQuant)
    {
        ArgumentNullException.ThrowIfNull(inputQuant);
        var info = _infos[name];
        if (info.IsFloat)
        {
            throw new InvalidInputException($"layer '{name}' cannot be lowered to full-integer TFLite: a quantisation override leaves it in float.");
        }
        if (_quantized.Model.Graph.Layer(name).BatchNorm is not null && !info.BatchNormFolded)
        {
            throw new InvalidInputException($"layer '{name}' cannot be lowered to full-integer TFLite: its batch norm is not folded (fold_batch_norm is off).");
        }
        var weightQuant = _params[$"{name}.weight"];
        var outputQuant = _params[$"{name}.output"];
        RequireWeightScheme(name, weightQuant);
        RequireActivationScheme(name, outputQuant);
        if (info.Kind == LayerKind.Linear && weightQuant.Count > 1)
        {
            weightQuant = PerTensor(weightQuant);
        }

        var (weight, bias) = _quantized.EffectiveWeights(name);
        var codes = FakeQuant.Quantize(weight, weightQuant);
        long channels = weight.shape[0];
        var floatBias = bias is null ? new float[channels] : bias.contiguous().data<float>().ToArray();
        var intBias = new int[channels];
        for (int c = 0; c < channels; c++)
        {
            double scale = (double)inputQuant.Scale[0] * weightQuant.Scale[weightQuant.Count == 1 ? 0 : c];
            double code = Math.Round(floatBias[c] / scale, MidpointRounding.ToEven);
            intBias[c] = (int)Math.Clamp(code, int.MinValue, int.MaxValue);
        }
        return new LayerConstants(codes, weightQuant, null, intBias, outputQuant);
    }

    public QParams? JoinOutput(string node)
    {
        if (!_params.TryGetValue($"{node}.output", out var output))
        {
            throw new InvalidInputException($"node '{node}' cannot be lowered to full-integer TFLite: the quantised model has no qparams for its output ('{node}.output').");
        }
        RequireActivationScheme(node, output);
        return output;
    }

    /// <summary>TFLite's int8 spec gives FULLY_CONNECTED one weight scale, and Arm NN 20.08 (Debian's) rejects
    /// per-axis fully connected weights: per-channel scales become one, the largest, which keeps every
    /// channel's range (symmetric min-max: max|W|/127 over the whole tensor).</summary>
    private static QParams PerTensor(QParams perChannel) =>
        new(perChannel.Scheme with { PerChannel = false, ChannelAxis = 0 }, [perChannel.Scale.Max()], [0]);

    /// <summary>TFLite int8 weights: signed 8-bit, symmetric (zero point 0), narrow range [−127, 127],
    /// per tensor or per output channel.</summary>
    private static void RequireWeightScheme(string layer, QParams weights)
    {
        var s = weights.Scheme;
        if (s.Bits != 8 || !s.Signed || !s.Symmetric || !s.NarrowRange || (s.PerChannel && s.ChannelAxis != 0))
        {
            throw new InvalidInputException(
                $"layer '{layer}' cannot be lowered to int8 TFLite: its weights are {s}, but TFLite wants int8 symmetric narrow [-127, 127] per tensor or per output channel (axis 0).");
        }
    }

    /// <summary>TFLite int8 activations: signed 8-bit, one scale and zero point per tensor.</summary>
    private static void RequireActivationScheme(string layer, QParams activations)
    {
        var s = activations.Scheme;
        if (s.Bits != 8 || !s.Signed || s.PerChannel)
        {
            throw new InvalidInputException(
                $"layer '{layer}' cannot be lowered to int8 TFLite: its activations are {s}, but TFLite wants int8 [-128, 127] per tensor.");
        }
    }
}
