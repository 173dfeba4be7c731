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
        // The QDQ graph is written as a chain; residual joins (and the nodes only residual models use) have no int8 form yet.
        if (plan.Steps.OfType<ElementStep>().FirstOrDefault() is { } element)
        {
            throw new InvalidInputException($"node '{element.Name}' ({element.Kind}) has no int8 ONNX lowering; export this model to float ONNX (targets onnx-fp32, edge-fp16).");
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

    private string LowerSteps(ZooGraphPlan plan, string input)
    {
        string h = input;
        Activation? current = null;
        if (_params.TryGetValue("input", out var inputParams))
        {
            current = ActivationFor("input", inputParams);
            h = QuantizeDequantize(h, current, "input.quantized", "input.dequantized");
        }
        var steps = plan.Steps;
        for (int i = 0; i < steps.Count; i++)
        {
            switch (steps[i])
            {
                case LayerStep layer when _layers[layer.Name].FloatWeights:
                    var nextPool = i + 1 < steps.Count ? steps[i + 1] as PoolStep : null;
                    (h, current) = FloatWeightsLayer(layer, h, nextPool);
                    i += nextPool is null ? 0 : 1;
                    break;
                case LayerStep layer:
                    (h, current) = Layer(layer, h, current);
                    break;
                case PoolStep pool:
                    h = current is null
                        ? FloatGraphLowering.MaxPool(_graph, pool, h, pool.Name)
                        : QuantizeDequantize(FloatGraphLowering.MaxPool(_graph, pool, h, $"{pool.Name}.float"), current, $"{pool.Name}.quantized", pool.Name);
                    break;
                case FlattenStep:
                    h = current is null
                        ? FloatGraphLowering.Flatten(_graph, h, "features")
                        : QuantizeDequantize(FloatGraphLowering.Flatten(_graph, h, "features.float"), current, "features.quantized", "features");
                    break;
                default:
                    throw new InvalidOperationException($"unknown plan step {steps[i]}");
            }
        }
        return h;
    }

    private (string Output, Activation? Quantization) Layer(LayerStep layer, string x, Activation? input)
    {
        var info = _layers[layer.Name];
        if (info.IsFloat)
        {
            return (FloatLayer(layer, x), null);
        }
        var inputs = new List<string> { x };
        var (weightScale, perChannelAxis0) = Weight(layer.Name, inputs);
        using (var scope = NewDisposeScope())
        {
            var bias = _quantized.EffectiveWeights(layer.Name).Bias;
            if (bias is not null)
            {
                inputs.Add(Bias(layer.Name, ZooGraphPlan.Floats(bias), input, weightScale, perChannelAxis0));
            }
        }
        if (!_params.TryGetValue($"{layer.Name}.output", out var outputParams))
        {
            string y = FloatGraphLowering.LinearOp(_graph, layer, inputs, layer.Relu ? $"{layer.Name}.preact" : $"{layer.Name}.output");
            return (layer.Relu ? _graph.Node("Relu", $"{layer.Name}.relu", [y], $"{layer.Name}.output") : y, null);
        }
        var output = ActivationFor($"{layer.Name}.output", outputParams);
        string preact = FloatGraphLowering.LinearOp(_graph, layer, inputs, $"{layer.Name}.preact");
        return (QuantizedOutput(layer, preact, output), output);
    }

    /// <summary>A layer with float weights and a quantised output: float Conv|Gemm → [MaxPool] → ReLU → Q → DQ.</summary>
    /// <remarks>The block's max-pool runs here, in float before the ReLU and the Q. Max-pool commutes with both,
    /// so this is what the fake-quant model computes (quantise, then pool). The order matters to ONNX Runtime:
    /// with a Q straight after a max-pool it inserts a Q/DQ pair in front of the pool and then runs the pool as
    /// an NCHW uint8 MaxPool, ten times slower than the float one (seen with ORT 1.31); the ReLU keeps the Q after
    /// the pool, and ORT drops the ReLU afterwards when the Q clamps at zero anyway.</remarks>
    private (string Output, Activation Quantization) FloatWeightsLayer(LayerStep layer, string x, PoolStep? pool)
    {
        var output = ActivationFor($"{layer.Name}.output", _params[$"{layer.Name}.output"]);
        string y = FloatGraphLowering.LinearOp(_graph, layer, FloatInputs(layer, x), $"{layer.Name}.float");
        if (pool is not null)
        {
            y = FloatGraphLowering.MaxPool(_graph, pool, y, $"{pool.Name}.float");
        }
        if (layer.Relu)
        {
            y = _graph.Node("Relu", $"{layer.Name}.float_relu", [y], $"{layer.Name}.preact");
        }
        return (QuantizedOutput(layer, y, output), output);
    }

    /// <summary>Q → DQ of a layer's pre-activation with its output qparams; the ReLU (and a clip for schemes narrower
    /// than their container) as the class remarks say.</summary>
    private string QuantizedOutput(LayerStep layer, string preact, Activation output)
    {
        var outputParams = output.Params;
        var scheme = outputParams.Scheme;
        long zero = outputParams.ZeroPoint[0];
        long lowestCode = layer.Relu ? zero : scheme.QMin;
        bool clampsLow = lowestCode > ContainerMin(scheme);
        bool clampsHigh = scheme.QMax < ContainerMax(scheme);
        if (!clampsLow && !clampsHigh)
        {
            return QuantizeDequantize(preact, output, $"{layer.Name}.output.quantized", $"{layer.Name}.output");
        }
        string full = QuantizeDequantize(preact, output, $"{layer.Name}.preact.quantized", $"{layer.Name}.preact.dequantized");
        string clamped = clampsHigh || lowestCode != zero
            ? _graph.Node("Clip", $"{layer.Name}.clip", [full, ClipBound(layer.Name, "min", outputParams, lowestCode), ClipBound(layer.Name, "max", outputParams, scheme.QMax)], $"{layer.Name}.clipped")
            : _graph.Node("Relu", $"{layer.Name}.relu", [full], $"{layer.Name}.clipped");
        return QuantizeDequantize(clamped, output, $"{layer.Name}.output.quantized", $"{layer.Name}.output");
    }

    private string FloatLayer(LayerStep layer, string x)
    {
        string y = FloatGraphLowering.LinearOp(_graph, layer, FloatInputs(layer, x), layer.Relu ? $"{layer.Name}.preact" : $"{layer.Name}.output");
        return layer.Relu ? _graph.Node("Relu", $"{layer.Name}.relu", [y], $"{layer.Name}.output") : y;
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
    private (float[] Scale, bool PerChannelAxis0) Weight(string layer, List<string> inputs)
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
        // The zero point is written even when it is all zeros: ONNX Runtime fuses DQ → Gemm → Q into QGemm only
        // when the weight's DequantizeLinear has one (seen with ORT 1.31).
        string zeroName = $"{layer}.weight.zero_point";
        if (scheme.Signed)
        {
            _graph.Int8Tensor(codesName, values.Select(v => checked((sbyte)v)).ToArray(), shape);
            _graph.Int8Tensor(zeroName, qparams.ZeroPoint.Select(v => checked((sbyte)v)).ToArray(), paramDims);
        }
        else
        {
            _graph.UInt8Tensor(codesName, values.Select(v => checked((byte)v)).ToArray(), shape);
            _graph.UInt8Tensor(zeroName, qparams.ZeroPoint.Select(v => checked((byte)v)).ToArray(), paramDims);
        }
        var attributes = scheme.PerChannel ? new[] { OnnxGraph.Int("axis", scheme.ChannelAxis) } : [];
        inputs.Add(_graph.Node("DequantizeLinear", "", [codesName, scaleName, zeroName], $"{layer}.weight", attributes));
        return (qparams.Scale, !scheme.PerChannel || scheme.ChannelAxis == 0);
    }

    /// <summary>An int32 bias with scale x_scale·w_scale and zero point 0 when the input is quantised and
    /// every code fits in int32; a float bias otherwise (the layer then runs in float in ONNX Runtime).</summary>
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
                string codesName = _graph.Int32Tensor($"{layer}.bias.quantized", codes, [bias.Length]);
                long[] dims = scales.Length == 1 ? [] : [scales.Length];
                string scaleName = _graph.FloatTensor($"{layer}.bias.scale", scales, dims);
                var attributes = scales.Length == 1 ? [] : new[] { OnnxGraph.Int("axis", 0) };
                return _graph.Node("DequantizeLinear", "", [codesName, scaleName], $"{layer}.bias", attributes);
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

    private Activation ActivationFor(string tensor, QParams qparams)
    {
        if (_activations.TryGetValue(tensor, out var existing))
        {
            return existing;
        }
        string scale = _graph.FloatTensor($"{tensor}.scale", [qparams.Scale[0]], []);
        string zero = qparams.Scheme.Signed
            ? _graph.Int8Tensor($"{tensor}.zero_point", [checked((sbyte)qparams.ZeroPoint[0])], [])
            : _graph.UInt8Tensor($"{tensor}.zero_point", [checked((byte)qparams.ZeroPoint[0])], []);
        var activation = new Activation(qparams, scale, zero);
        _activations[tensor] = activation;
        return activation;
    }

    private static long ContainerMin(QuantScheme scheme) => scheme.Signed ? sbyte.MinValue : byte.MinValue;

    private static long ContainerMax(QuantScheme scheme) => scheme.Signed ? sbyte.MaxValue : byte.MaxValue;

    /// <summary>A quantised activation's qparams and the names of its scale and zero-point initializers.</summary>
    private sealed record Activation(QParams Params, string Scale, string ZeroPoint);
}
