using Distill.Core.Models;
using Distill.Core.Quantization;
using static TorchSharp.torch;

namespace Distill.Core.Export.Onnx;

/// <summary>Writes a <see cref="ZooGraphPlan"/> as an ONNX QDQ graph with the qparams of a frozen
/// <see cref="QuantizedZooModel"/>: int8 (or uint8) weight initializers with DequantizeLinear, int32 biases
/// with scale x_scale·w_scale (no zero point: 0 by default), and QuantizeLinear → DequantizeLinear on every quantised activation.</summary>
/// <remarks>
/// Each quantised layer is laid out DQ(x), DQ(W), DQ(b) → Conv|Gemm → Q → DQ so that ONNX Runtime fuses it
/// into QLinearConv / QGemm. The ReLU after a layer is left out when the output's zero point is the lowest
/// code of its container (asymmetric schemes after a ReLU): the Q then clamps everything below zero to zero,
/// exactly as fake-quantising the ReLU's output does. Otherwise (e.g. symmetric int8, zero point 0) the
/// ReLU, and a Clip for schemes narrower than their 8-bit container (7-bit, narrow range), runs on the
/// dequantised output and is quantised again with the same qparams. Since zero and the clip bounds are codes,
/// relu(fq(y)) = fq(relu(y)) and the second Q is exact. Max-pool and flatten run between DQ and Q with the
/// same qparams (they only move codes), which ONNX Runtime turns into integer ops.
/// </remarks>
internal sealed class QdqGraphLowering
{
    private readonly OnnxGraph _graph;
    private readonly QuantizedZooModel _quantized;
    private readonly Dictionary<string, QParams> _params;
    private readonly Dictionary<string, QuantLayerInfo> _layers;
    private readonly Dictionary<string, Activation> _activations = [];
    private Dictionary<string, int> _readers = [];

    private QdqGraphLowering(OnnxGraph graph, QuantizedZooModel quantized)
    {
        _graph = graph;
        _quantized = quantized;
        _params = quantized.QuantParameters().ToDictionary(p => p.Name, p => p.Params);
        _layers = quantized.Layers.ToDictionary(l => l.Name);
    }

    /// <summary>Returns the name of the float logits tensor. Throws <see cref="InvalidInputException"/>
    /// naming a layer that has no integer form.</summary>
    public static string Lower(OnnxGraph graph, ZooGraphPlan plan, QuantizedZooModel quantized, string input)
    {
        var lowering = new QdqGraphLowering(graph, quantized);
        lowering.CheckLayers(plan);
        return lowering.LowerSteps(plan, input);
    }

    private void CheckLayers(ZooGraphPlan plan)
    {
        if (plan.Steps.OfType<ElementStep>().FirstOrDefault(e => e.Kind == LayerKind.Relu6) is { } relu6)
        {
            throw new InvalidInputException($"node '{relu6.Name}' (a ReLU6 that does not follow a conv or linear layer alone) has no int8 ONNX lowering; export this model to float ONNX (targets onnx-fp32, edge-fp16).");
        }
        foreach (var layer in plan.Layers)
        {
            if (!_layers.TryGetValue(layer.Name, out var info))
            {
                throw new InvalidInputException($"layer '{layer.Name}' is not a layer of the quantised model; it does not wrap this model.");
            }
            if (!info.IsFloat && layer.HasBatchNorm && !info.BatchNormFolded)
            {
                throw new InvalidInputException(
                    $"layer '{layer.Name}' is quantised with its batch norm unfolded, which has no integer form; quantise with batch-norm folding on (QuantConfig.FoldBatchNorm) to export int8.");
            }
        }
    }

    /// <summary>Lowers the steps in order, keeping the graph tensor of every node's value and its qparams (null for a
    /// float value), so that branches and residual joins read what they read in the model.</summary>
    private string LowerSteps(ZooGraphPlan plan, string input)
    {
        var values = new Dictionary<string, Value> { [ModelGraph.InputName] = new(input, null) };
        if (_params.TryGetValue("input", out var inputParams))
        {
            var quantized = ActivationFor("input", inputParams, ModelGraph.InputName);
            values[ModelGraph.InputName] = new(QuantizeDequantize(input, quantized, "input.quantized", "input.dequantized"), quantized);
        }
        var graph = _quantized.Model.Graph;
        var steps = plan.Steps;
        _readers = steps.SelectMany(s => s.Inputs).GroupBy(n => n).ToDictionary(g => g.Key, g => g.Count());
        Value last = values[ModelGraph.InputName];
        for (int i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            var (x, current) = values[step.Inputs[0]];
            switch (step)
            {
                case LayerStep layer when _layers[layer.Name].FloatWeights:
                    var nextPool = i + 1 < steps.Count && steps[i + 1] is PoolStep following && following.Inputs[0] == layer.Output ? following : null;
                    last = FloatWeightsLayer(layer, x, nextPool);
                    if (nextPool is not null)
                    {
                        i++;
                        values[nextPool.Output] = last;
                    }
                    break;
                case LayerStep layer:
                    last = Layer(layer, x, current);
                    break;
                case PoolStep pool:
                    last = new(current is null
                        ? FloatGraphLowering.MaxPool(_graph, pool, x, pool.Name)
                        : QuantizeDequantize(FloatGraphLowering.MaxPool(_graph, pool, x, $"{pool.Name}.float"), current, $"{pool.Name}.quantized", pool.Name), current);
                    break;
                case FlattenStep:
                    last = new(current is null
                        ? FloatGraphLowering.Flatten(_graph, x, "features")
                        : QuantizeDequantize(FloatGraphLowering.Flatten(_graph, x, "features.float"), current, "features.quantized", "features"), current);
                    break;
                case ElementStep { Kind: LayerKind.Add } add:
                    var relu = graph.ReluAfter(graph[add.Name]);
                    last = Add(add, [.. add.Inputs.Select(n => values[n].Tensor)], relu);
                    if (relu is not null)
                    {
                        // The ReLU's step follows and is this one's: the add's output is quantised after it.
                        values[relu.Name] = last;
                        i += steps[i + 1] is ElementStep { Kind: LayerKind.Relu } next && next.Name == relu.Name ? 1
                            : throw new InvalidOperationException($"the ReLU after '{add.Name}' is not the next step");
                    }
                    break;
                case ElementStep { Kind: LayerKind.Relu } element:
                    // ReLU moves codes only when zero is a code, which it always is: it runs between DQ and Q with the same qparams.
                    string rectified = _graph.Node("Relu", element.Name, [x], current is null ? element.Name : $"{element.Name}.float");
                    last = new(current is null ? rectified : QuantizeDequantize(rectified, current, $"{element.Name}.quantized", element.Name), current);
                    break;
                case ElementStep { Kind: LayerKind.GlobalAvgPool } element:
                    last = GlobalAveragePool(element, x);
                    break;
                default:
                    throw new InvalidOperationException($"unknown plan step {step}");
            }
            values[step.Output] = last;
        }
        return last.Tensor;
    }

    private Value Layer(LayerStep layer, string x, Activation? input)
    {
        var info = _layers[layer.Name];
        if (info.IsFloat)
        {
            return new(FloatActivation(layer, FloatGraphLowering.LinearOp(_graph, layer, FloatInputs(layer, x), layer.Relu ? $"{layer.Name}.preact" : $"{layer.Name}.output"), $"{layer.Name}.output"), null);
        }
        var inputs = new List<string> { x };
        var (weightScale, perChannelAxis0) = Weight(layer.Name, inputs, isConv: layer.Conv is not null);
        using (var scope = NewDisposeScope())
        {
            var bias = _quantized.EffectiveWeights(layer.Name).Bias;
            if (bias is not null)
            {
                inputs.Add(Bias(layer.Name, ZooGraphPlan.Floats(bias), input, weightScale, perChannelAxis0));
            }
        }
        var output = ActivationFor($"{layer.Name}.output", _params[$"{layer.Name}.output"], layer.Output);
        string preact = FloatGraphLowering.LinearOp(_graph, layer, inputs, $"{layer.Name}.preact");
        return new(QuantizedOutput(layer.Name, preact, output, layer.Relu, layer.Relu6), output);
    }

    /// <summary>A residual add: Add of the (dequantised) inputs → Q → DQ with the add's qparams, which ONNX Runtime runs
    /// as QLinearAdd when both inputs come from a DQ; a ReLU after the add as <see cref="QuantizedOutput"/> lays it out.</summary>
    private Value Add(ElementStep add, IReadOnlyList<string> inputs, GraphNode? relu)
    {
        var output = ActivationFor($"{add.Name}.output", _params[$"{add.Name}.output"], relu?.Name ?? add.Name);
        string sum = _graph.Node("Add", add.Name, inputs, $"{add.Name}.sum");
        return new(QuantizedOutput(add.Name, sum, output, relu is not null, relu6: false), output);
    }

    /// <summary>DQ → GlobalAveragePool → Q → DQ with the pool's own qparams (ONNX Runtime's QLinearGlobalAveragePool),
    /// then Flatten to [N, C] between DQ and Q with the same qparams.</summary>
    private Value GlobalAveragePool(ElementStep pool, string x)
    {
        var output = ActivationFor($"{pool.Name}.output", _params[$"{pool.Name}.output"], pool.Output);
        string pooled = _graph.Node("GlobalAveragePool", pool.Name, [x], $"{pool.Name}.float");
        pooled = QuantizeDequantize(pooled, output, $"{pool.Name}.quantized", $"{pool.Name}.pooled");
        string flat = _graph.Node("Flatten", $"{pool.Name}.flatten", [pooled], $"{pool.Name}.flat", OnnxGraph.Int("axis", 1));
        return new(QuantizeDequantize(flat, output, $"{pool.Name}.flat.quantized", pool.Name), output);
    }

    /// <summary>A layer with float weights and a quantised output: float Conv|Gemm → [MaxPool] → ReLU → Q → DQ.</summary>
    /// <remarks>The block's max-pool runs here, in float before the ReLU and the Q. Max-pool commutes with both,
    /// so this is what the fake-quant model computes (quantise, then pool). The order matters to ONNX Runtime:
    /// with a Q straight after a max-pool it inserts a Q/DQ pair in front of the pool and then runs the pool as
    /// an NCHW uint8 MaxPool, ten times slower than the float one (seen with ORT 1.31); the ReLU keeps the Q after
    /// the pool, and ORT drops the ReLU afterwards when the Q clamps at zero anyway.</remarks>
    private Value FloatWeightsLayer(LayerStep layer, string x, PoolStep? pool)
    {
        var output = ActivationFor($"{layer.Name}.output", _params[$"{layer.Name}.output"], pool?.Output ?? layer.Output);
        string y = FloatGraphLowering.LinearOp(_graph, layer, FloatInputs(layer, x), $"{layer.Name}.float");
        if (pool is not null)
        {
            y = FloatGraphLowering.MaxPool(_graph, pool, y, $"{pool.Name}.float");
        }
        if (layer.Relu)
        {
            y = FloatActivation(layer, y, $"{layer.Name}.preact");
        }
        return new(QuantizedOutput(layer.Name, y, output, layer.Relu, layer.Relu6), output);
    }

    /// <summary>Q → DQ of a pre-activation with the output qparams of <paramref name="name"/>; the ReLU (and a clip for
    /// schemes narrower than their container, or for a ReLU6 whose 6 is below the top code) as the class remarks say.</summary>
    private string QuantizedOutput(string name, string preact, Activation output, bool relu, bool relu6)
    {
        var outputParams = output.Params;
        var scheme = outputParams.Scheme;
        long zero = outputParams.ZeroPoint[0];
        long lowestCode = relu ? zero : scheme.QMin;
        // ReLU6 then rounding is rounding then capping at the code of 6 (rounding is monotone); usually the scale puts
        // 6 at or above the top code, and the Q's saturation is the cap.
        long highestCode = relu6 ? Math.Min(scheme.QMax, zero + (long)Math.Round(6.0 / outputParams.Scale[0], MidpointRounding.ToEven)) : scheme.QMax;
        bool clampsLow = lowestCode > ContainerMin(scheme);
        bool clampsHigh = highestCode < ContainerMax(scheme);
        if (!clampsLow && !clampsHigh)
        {
            return QuantizeDequantize(preact, output, $"{name}.output.quantized", $"{name}.output");
        }
        string full = QuantizeDequantize(preact, output, $"{name}.preact.quantized", $"{name}.preact.dequantized");
        string clamped = clampsHigh || lowestCode != zero
            ? _graph.Node("Clip", $"{name}.clip", [full, ClipBound(name, "min", outputParams, lowestCode), ClipBound(name, "max", outputParams, highestCode)], $"{name}.clipped")
            : _graph.Node("Relu", $"{name}.relu", [full], $"{name}.clipped");
        return QuantizeDequantize(clamped, output, $"{name}.output.quantized", $"{name}.output");
    }

    /// <summary>A layer's ReLU (or ReLU6 as Clip(0, 6)) in float on <paramref name="y"/>, or <paramref name="y"/> without one.</summary>
    private string FloatActivation(LayerStep layer, string y, string output)
    {
        if (!layer.Relu)
        {
            return y;
        }
        return layer.Relu6
            ? _graph.Node("Clip", layer.ActivationName, [y, _graph.FloatTensor($"{layer.ActivationName}.min", [0f], []), _graph.FloatTensor($"{layer.ActivationName}.max", [6f], [])], output)
            : _graph.Node("Relu", layer.ActivationName, [y], output);
    }

    private List<string> FloatInputs(LayerStep layer, string x)
    {
        var inputs = new List<string> { x, _graph.FloatTensor($"{layer.Name}.weight", layer.Weight, layer.WeightShape) };
        if (layer.Bias is not null)
        {
            inputs.Add(_graph.FloatTensor($"{layer.Name}.bias", layer.Bias, [layer.Bias.Length]));
        }
        return inputs;
    }

    /// <summary>Integer weight codes with a DequantizeLinear; returns the weight scales and whether they are
    /// per output channel (axis 0), which is when a bias can be quantised per channel with them.</summary>
    /// <remarks>A conv's zero point is left out when it is all zeros (the input is optional and defaults to 0): one
    /// byte per channel and an initializer less, and ONNX Runtime still fuses QLinearConv. A Gemm keeps it: ONNX
    /// Runtime fuses DQ → Gemm → Q into QGemm only when the weight's DequantizeLinear has one (seen with ORT 1.31).</remarks>
    private (float[] Scale, bool PerChannelAxis0) Weight(string layer, List<string> inputs, bool isConv)
    {
        var qparams = _params[$"{layer}.weight"];
        var scheme = qparams.Scheme;
        using var scope = NewDisposeScope();
        var weight = _quantized.EffectiveWeights(layer).Weight;
        long[] shape = weight.shape;
        using var codes = FakeQuant.Quantize(weight, qparams);
        long[] values = codes.data<long>().ToArray();
        long[] paramDims = scheme.PerChannel ? [qparams.Count] : [];
        string codesName = $"{layer}.weight.quantized";
        string scaleName = _graph.FloatTensor($"{layer}.weight.scale", qparams.Scale, paramDims);
        string zeroName = $"{layer}.weight.zero_point";
        bool writeZero = !isConv || qparams.ZeroPoint.Any(z => z != 0);
        if (scheme.Signed)
        {
            _graph.Int8Tensor(codesName, values.Select(v => checked((sbyte)v)).ToArray(), shape);
            if (writeZero)
                _graph.Int8Tensor(zeroName, qparams.ZeroPoint.Select(v => checked((sbyte)v)).ToArray(), paramDims);
        }
        else
        {
            _graph.UInt8Tensor(codesName, values.Select(v => checked((byte)v)).ToArray(), shape);
            if (writeZero)
                _graph.UInt8Tensor(zeroName, qparams.ZeroPoint.Select(v => checked((byte)v)).ToArray(), paramDims);
        }
        var attributes = scheme.PerChannel ? new[] { OnnxGraph.Int("axis", scheme.ChannelAxis) } : [];
        string[] dequantizeInputs = writeZero ? [codesName, scaleName, zeroName] : [codesName, scaleName];
        inputs.Add(_graph.Node("DequantizeLinear", "", dequantizeInputs, $"{layer}.weight", attributes));
        return (qparams.Scale, !scheme.PerChannel || scheme.ChannelAxis == 0);
    }

    /// <summary>The bias on the int32 grid of scale x_scale·w_scale (zero point 0) when the input is quantised and every
    /// code fits in int32, else the bias as it is; written as a float initializer either way.</summary>
    /// <remarks>A float bias holding code × scale (the value a DequantizeLinear of the int32 codes gives) saves the
    /// int32 codes' per-channel scale tensor and their DequantizeLinear: ONNX Runtime (1.31, BiasQuantization at load)
    /// computes x_scale·w_scale itself, recovers the same codes and fuses QLinearConv / QGemm with them; outputs were
    /// bit-identical to the int32 form's for a cnn and a mobilenet_v2 file.</remarks>
    private string Bias(string layer, float[] bias, Activation? input, float[] weightScale, bool perChannelAxis0)
    {
        if (input is not null && perChannelAxis0)
        {
            float inputScale = input.Params.Scale[0];
            var scales = weightScale.Select(s => inputScale * s).ToArray();
            var codes = new int[bias.Length];
            bool fits = true;
            for (int c = 0; c < bias.Length && fits; c++)
            {
                double code = Math.Round(bias[c] / (double)scales[scales.Length == 1 ? 0 : c], MidpointRounding.ToEven);
                fits = code is >= int.MinValue and <= int.MaxValue;
                codes[c] = fits ? (int)code : 0;
            }
            if (fits)
            {
                var onGrid = codes.Select((code, c) => code * scales[scales.Length == 1 ? 0 : c]).ToArray();
                return _graph.FloatTensor($"{layer}.bias", onGrid, [bias.Length]);
            }
        }
        return _graph.FloatTensor($"{layer}.bias", bias, [bias.Length]);
    }

    private string ClipBound(string layer, string which, QParams qparams, long code) =>
        _graph.FloatTensor($"{layer}.clip_{which}", [(float)(code - qparams.ZeroPoint[0]) * qparams.Scale[0]], []);

    private string QuantizeDequantize(string x, Activation activation, string quantizedName, string outputName)
    {
        // Quantise/dequantise nodes stay unnamed (names are optional): their tensors say what they are, and
        // in a small model the names would be a noticeable part of the file.
        string q = _graph.Node("QuantizeLinear", "", [x, activation.Scale, activation.ZeroPoint], quantizedName);
        return _graph.Node("DequantizeLinear", "", [q, activation.Scale, activation.ZeroPoint], outputName);
    }

    /// <summary>The scale and zero-point initializers of an activation. A signed activation that several steps read
    /// (<paramref name="node"/>'s value: a block input feeding both the branch and the shortcut) is written in uint8,
    /// its zero point moved by 128 (the same grid): ONNX Runtime on x86 runs int8 activations by turning each Q → DQ
    /// pair into uint8, but only where the Q has a single DQ, after giving every consumer of a shared DQ its own copy;
    /// a shared int8 value would stay int8 and its consumers run in float (seen with ORT 1.31).</summary>
    private Activation ActivationFor(string tensor, QParams qparams, string? node = null)
    {
        if (_activations.TryGetValue(tensor, out var existing))
        {
            return existing;
        }
        bool shared = node is not null && _readers.GetValueOrDefault(node) > 1;
        string scale = _graph.FloatTensor($"{tensor}.scale", [qparams.Scale[0]], []);
        string zero = qparams.Scheme.Signed && !shared
            ? _graph.Int8Tensor($"{tensor}.zero_point", [checked((sbyte)qparams.ZeroPoint[0])], [])
            : _graph.UInt8Tensor($"{tensor}.zero_point", [checked((byte)(qparams.ZeroPoint[0] + (qparams.Scheme.Signed ? 128 : 0)))], []);
        var activation = new Activation(qparams, scale, zero);
        _activations[tensor] = activation;
        return activation;
    }

    private static long ContainerMin(QuantScheme scheme) => scheme.Signed ? sbyte.MinValue : byte.MinValue;

    private static long ContainerMax(QuantScheme scheme) => scheme.Signed ? sbyte.MaxValue : byte.MaxValue;

    /// <summary>A quantised activation's qparams and the names of its scale and zero-point initializers.</summary>
    private sealed record Activation(QParams Params, string Scale, string ZeroPoint);

    /// <summary>The graph tensor of a node's value and its qparams (null for a float value).</summary>
    private sealed record Value(string Tensor, Activation? Quantization);
}
