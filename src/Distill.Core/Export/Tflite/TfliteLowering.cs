using System.Runtime.InteropServices;
using Distill.Core.Models;
using Distill.Core.Quantization;
using static Distill.Core.Export.Tflite.TfliteSchema;
using static TorchSharp.torch;

namespace Distill.Core.Export.Tflite;

/// <summary>The lowered graph and the qparams of its integer edges.</summary>
internal sealed record LoweredModel(TfliteGraph Graph, QParams? InputQuant, QParams? OutputQuant);

/// <summary>Turns a zoo model into TFLite operators, one step per node of its <see cref="ModelGraph"/> (a conv or
/// linear layer takes its batch norm and ReLU or ReLU6 along, a residual add the ReLU that follows it; dropouts
/// vanish). Call within a dispose scope and no_grad.</summary>
internal sealed class TfliteLowering(ZooModel model, ILayerSource source, int batch, bool integerIo)
{
    private readonly TfliteGraph _graph = new();

    private bool Integer => source.IsInteger;

    /// <summary>The tensor holding a node's value, its qparams (integer models) and, after a flatten of an image,
    /// the [C, H, W] it was flattened from (the next linear layer reorders its weight's columns for it).</summary>
    private sealed record Value(int Tensor, QParams? Quant, (long C, long H, long W)? FlattenedFrom = null);

    public LoweredModel Lower()
    {
        var graph = model.Graph;
        var sample = graph.InputShape;
        // An input that goes straight into a flatten is fed flattened (C order); an image input is NHWC.
        bool flatInput = graph.Consumers(ModelGraph.InputName) is [{ Kind: LayerKind.Flatten }];
        if (!flatInput && sample.Length != 3)
        {
            throw new InvalidInputException($"a model input of shape [{string.Join(",", sample)}] cannot be lowered to TFLite: it takes images [C,H,W] or flat vectors.");
        }
        int[] inputShape = flatInput
            ? [batch, (int)sample.Aggregate(1L, (a, b) => a * b)]
            : Nhwc(sample);

        // Every node's value by node name, so that a residual add reads both of its inputs.
        var values = new Dictionary<string, Value> { [ModelGraph.InputName] = new(AddInput(inputShape, source.InputQuant), source.InputQuant) };
        var fused = new HashSet<GraphNode>();
        foreach (var node in graph.Nodes)
        {
            if (fused.Contains(node))
            {
                continue;
            }
            var x = values[node.Inputs[0]];
            switch (node.Kind)
            {
                case LayerKind.Dropout:
                    values[node.Name] = x;
                    break;
                case LayerKind.Conv or LayerKind.Depthwise or LayerKind.Linear:
                    var layer = graph.Layer(node.Name);
                    fused.UnionWith(new[] { layer.BatchNorm, layer.Activation }.OfType<GraphNode>());
                    var activation = layer.Activation is null ? Activation.None : layer.Relu6 ? Activation.Relu6 : Activation.Relu;
                    values[layer.Last.Name] = node.Kind == LayerKind.Linear
                        ? Linear(node.Name, x, activation)
                        : Conv(node, activation, x);
                    break;
                case LayerKind.MaxPool:
                    values[node.Name] = new(MaxPool(node, x.Tensor, x.Quant), x.Quant);
                    break;
                case LayerKind.Flatten when (node.Inputs[0] == ModelGraph.InputName && flatInput) || graph.InputShapeOf(node).Length == 1:
                    // Already [batch, features]: the flat input, or a global average pool's [batch, C].
                    values[node.Name] = x;
                    break;
                case LayerKind.Flatten:
                    var from = graph.InputShapeOf(node);
                    values[node.Name] = new(Reshape(node.Name, x.Tensor, [batch, (int)node.Shape[0]], x.Quant), x.Quant, (from[0], from[1], from[2]));
                    break;
                case LayerKind.Add:
                    var relu = graph.ReluAfter(node);
                    if (relu is not null)
                    {
                        fused.Add(relu);
                    }
                    values[relu?.Name ?? node.Name] = Add(node, [.. node.Inputs.Select(i => values[i])], relu is null ? Activation.None : Activation.Relu);
                    break;
                case LayerKind.GlobalAvgPool:
                    values[node.Name] = GlobalAveragePool(node, x);
                    break;
                default:
                    throw new InvalidInputException($"node '{node.Name}' ({node.Kind}) cannot be lowered to TFLite.");
            }
        }
        var output = values[graph.Output.Name];
        AddOutput(output.Tensor);
        return new LoweredModel(_graph, source.InputQuant, output.Quant);
    }

    /// <summary>[batch, H, W, C] of a per-sample [C, H, W].</summary>
    private int[] Nhwc(long[] chw) => [batch, (int)chw[1], (int)chw[2], (int)chw[0]];

    private int AddInput(int[] shape, QParams? quant)
    {
        if (!Integer)
        {
            int input = _graph.AddActivation(TfliteExporter.InputName, shape, TensorType.Float32);
            _graph.Inputs.Add(input);
            return input;
        }
        if (integerIo)
        {
            int input = _graph.AddActivation(TfliteExporter.InputName, shape, TensorType.Int8, Quant(quant!));
            _graph.Inputs.Add(input);
            return input;
        }
        int floatInput = _graph.AddActivation(TfliteExporter.InputName, shape, TensorType.Float32);
        int quantized = _graph.AddActivation("input.quantized", shape, TensorType.Int8, Quant(quant!));
        _graph.AddOperator(BuiltinOperator.Quantize, 2, [floatInput], [quantized]);
        _graph.Inputs.Add(floatInput);
        return quantized;
    }

    private void AddOutput(int logits)
    {
        var tensor = _graph[logits];
        if (!Integer || integerIo)
        {
            _graph.Outputs.Add(logits);
            return;
        }
        int floatOutput = _graph.AddActivation(TfliteExporter.OutputName, tensor.Shape, TensorType.Float32);
        _graph.AddOperator(BuiltinOperator.Dequantize, 2, [logits], [floatOutput]);
        _graph.Outputs.Add(floatOutput);
    }

    /// <summary>Name of a layer's output tensor: "logits" when it is the model's output as it is.</summary>
    private string OutputTensorName(string layer) =>
        layer == model.Graph.Output.Name && (!Integer || integerIo) ? TfliteExporter.OutputName : $"{layer}.output";

    private Value Conv(GraphNode node, Activation activation, Value input)
    {
        string name = node.Name;
        var conv = (TorchSharp.Modules.Conv2d)node.Module!;
        int kernel = (int)conv.kernel_size[0];
        bool depthwise = node.Kind == LayerKind.Depthwise;
        if (kernel % 2 == 0)
        {
            throw new InvalidInputException(
                $"layer '{name}' cannot be lowered to TFLite: its kernel size {kernel} is even; PyTorch pads it by {kernel / 2} on both sides, which TFLite's SAME padding cannot express (use an odd kernel).");
        }
        var plan = PlanConv(node, conv);
        if (plan.Pad > 0)
        {
            input = Pad($"{name}.pad", input, plan.Pad);
        }
        int[] inputShape = _graph[input.Tensor].Shape;
        int[] outputShape = plan.Subsample > 1 ? [batch, inputShape[1], inputShape[2], (int)node.Shape[0]] : Nhwc(node.Shape);
        var constants = source.Layer(name, input.Quant);
        // PyTorch [O, I, kH, kW] → TFLite CONV_2D [O, kH, kW, I]; depthwise [C, 1, kH, kW] → [1, kH, kW, C].
        var weight = depthwise ? constants.Weight.permute(1, 2, 3, 0) : constants.Weight.permute(0, 2, 3, 1);
        int weightTensor = AddWeight($"{name}.weight", weight, constants.WeightQuant, quantDimension: depthwise ? 3 : 0);
        int biasTensor = AddBias($"{name}.bias", constants, input.Quant);
        int output = AddResult(plan.Subsample > 1 ? $"{name}.stride1" : OutputTensorName(name), outputShape, constants.OutputQuant);
        TfliteOptions options = depthwise
            ? new DepthwiseConv2DOptionsTable(plan.Padding, plan.Stride, activation)
            : new Conv2DOptionsTable(plan.Padding, plan.Stride, activation);
        var op = depthwise ? BuiltinOperator.DepthwiseConv2D : BuiltinOperator.Conv2D;
        _graph.AddOperator(op, Integer ? 3 : 1, [input.Tensor, weightTensor, biasTensor], [output], options);
        if (plan.Subsample > 1)
        {
            // A 1x1 max-pool with the stride keeps every s-th row and column: the strided conv's outputs.
            int subsampled = AddResult(OutputTensorName(name), Nhwc(node.Shape), constants.OutputQuant);
            _graph.AddOperator(BuiltinOperator.MaxPool2D, Integer ? 2 : 1, [output], [subsampled], new Pool2DOptionsTable(Padding.Valid, plan.Subsample, 1));
            output = subsampled;
        }
        return new(output, constants.OutputQuant);
    }

    /// <summary>How a conv is written: TFLite padding and stride, a PAD in front (<see cref="Pad"/> zeros on each
    /// side), or a stride-1 conv whose outputs a 1x1 max-pool subsamples by <see cref="Subsample"/>.</summary>
    private sealed record ConvPlan(Padding Padding, int Stride, int Pad = 0, int Subsample = 1);

    /// <summary>PyTorch pads p zeros on every side; TFLite's SAME pads what the stride needs, the odd one at the bottom
    /// and right, which is PyTorch's padding only for stride 1 and p = k/2. A float conv otherwise gets a PAD by p and a
    /// VALID conv. Arm NN 20.08 runs an int8 PAD with code 0 instead of the zero point (measured in front of a
    /// depthwise conv: the border read 128 steps off), so an int8 conv with p = k/2 and stride s runs SAME at stride 1 and keeps every s-th output, which
    /// is what PyTorch's strided windows compute, at s² times the work.</summary>
    private ConvPlan PlanConv(GraphNode node, TorchSharp.Modules.Conv2d conv)
    {
        long[] kernel = conv.kernel_size;
        long[] stride = conv.stride;
        long[]? padding = conv.padding;
        bool plain = conv.padding_mode == TorchSharp.PaddingModes.Zeros && conv.padding_type is null && padding is not null
            && kernel.Distinct().Count() == 1 && stride.Distinct().Count() == 1 && padding.Distinct().Count() == 1
            && conv.dilation.All(d => d == 1);
        if (!plain)
        {
            throw new InvalidInputException($"conv '{node.Name}' cannot be lowered to TFLite: it needs a square kernel and stride, the same zero padding on every side and no dilation.");
        }
        int k = (int)kernel[0], s = (int)stride[0], p = (int)padding![0];
        if (p == 0)
            return new(Padding.Valid, s);
        if (p == k / 2 && s == 1)
            return new(Padding.Same, 1);
        if (p == k / 2 && Integer)
            return new(Padding.Same, 1, Subsample: s);
        if (Integer)
            throw new InvalidInputException($"conv '{node.Name}' cannot be lowered to int8 TFLite: its padding {p} with kernel {k} and stride {s} needs a PAD, which Arm NN runs wrong in int8 (it pads with code 0, not the zero point).");
        return new(Padding.Valid, s, Pad: p);
    }

    /// <summary>PAD of a float NHWC tensor by <paramref name="pad"/> zeros on each side of H and W (int8 convs do
    /// without, <see cref="PlanConv"/>).</summary>
    private Value Pad(string name, Value input, int pad)
    {
        int[] shape = _graph[input.Tensor].Shape;
        int[] paddings = [0, 0, pad, pad, pad, pad, 0, 0];
        int amounts = _graph.AddConstant($"{name}.amounts", [4, 2], TensorType.Int32, MemoryMarshal.AsBytes(paddings.AsSpan()).ToArray());
        int output = AddResult($"{name}.output", [shape[0], shape[1] + (2 * pad), shape[2] + (2 * pad), shape[3]], input.Quant);
        _graph.AddOperator(BuiltinOperator.Pad, 1, [input.Tensor, amounts], [output], new PadOptionsTable());
        return input with { Tensor = output };
    }

    private Value Linear(string name, Value input, Activation activation)
    {
        var constants = source.Layer(name, input.Quant);
        var weight = constants.Weight;
        if (input.FlattenedFrom is var (c, h, w))
        {
            // The input is flattened from NHWC, PyTorch flattened NCHW: reorder the weight's columns to match.
            long outFeatures = weight.shape[0];
            weight = weight.reshape(outFeatures, c, h, w).permute(0, 2, 3, 1).reshape(outFeatures, h * w * c);
        }
        int weightTensor = AddWeight($"{name}.weight", weight, constants.WeightQuant, quantDimension: 0);
        int biasTensor = AddBias($"{name}.bias", constants, input.Quant);
        int output = AddResult(OutputTensorName(name), [batch, (int)weight.shape[0]], constants.OutputQuant);
        _graph.AddOperator(BuiltinOperator.FullyConnected, Integer ? 4 : 1, [input.Tensor, weightTensor, biasTensor], [output],
            new FullyConnectedOptionsTable(activation));
        return new(output, constants.OutputQuant);
    }

    /// <summary>ADD of a residual join, with the ReLU after it fused. In int8 each input keeps its own qparams and the
    /// sum is requantised to the add's output qparams, as the fake-quantised model rounds it.</summary>
    private Value Add(GraphNode node, IReadOnlyList<Value> inputs, Activation activation)
    {
        if (inputs.Count != 2)
        {
            throw new InvalidInputException($"add '{node.Name}' cannot be lowered to TFLite: it has {inputs.Count} inputs, TFLite's ADD takes two.");
        }
        var quant = source.JoinOutput(node.Name);
        int output = AddResult(OutputTensorName(node.Name), Nhwc(node.Shape), quant);
        _graph.AddOperator(BuiltinOperator.Add, Integer ? 2 : 1, [inputs[0].Tensor, inputs[1].Tensor], [output], new AddOptionsTable(activation));
        return new(output, quant);
    }

    /// <summary>A global average pool as MEAN over H and W of the NHWC tensor, without keeping them: [batch, C], what
    /// the head's fully connected layer reads. In int8 the mean is requantised to the pool's own output qparams.</summary>
    private Value GlobalAveragePool(GraphNode node, Value input)
    {
        var quant = source.JoinOutput(node.Name);
        int axes = _graph.AddConstant($"{node.Name}.axes", [2], TensorType.Int32, MemoryMarshal.AsBytes(new[] { 1, 2 }.AsSpan()).ToArray());
        int output = AddResult($"{node.Name}.output", [batch, (int)node.Shape[0]], quant);
        _graph.AddOperator(BuiltinOperator.Mean, Integer ? 2 : 1, [input.Tensor, axes], [output], new ReducerOptionsTable(KeepDims: false));
        return new(output, quant);
    }

    /// <summary>MAX_POOL_2D with VALID padding: TFLite's pool options hold one filter size and one stride, so the
    /// window must be square, unpadded and undilated.</summary>
    private int MaxPool(GraphNode node, int input, QParams? quant)
    {
        var pool = (TorchSharp.Modules.MaxPool2d)node.Module!;
        long[] kernel = pool.kernel_size;
        long[] stride = pool.stride ?? kernel;
        bool plain = kernel.Distinct().Count() == 1 && stride.Distinct().Count() == 1 && !pool.ceil_mode
            && (pool.padding ?? []).All(p => p == 0) && (pool.dilation ?? []).All(d => d == 1);
        if (!plain)
        {
            throw new InvalidInputException($"max-pool '{node.Name}' cannot be lowered to TFLite: it needs a square window and stride, no padding, no dilation.");
        }
        int output = AddResult($"{node.Name}.output", Nhwc(node.Shape), quant);
        _graph.AddOperator(BuiltinOperator.MaxPool2D, Integer ? 2 : 1, [input], [output], new Pool2DOptionsTable(Padding.Valid, (int)stride[0], (int)kernel[0]));
        return output;
    }

    private int Reshape(string name, int input, int[] outputShape, QParams? quant)
    {
        int output = AddResult($"{name}.output", outputShape, quant);
        _graph.AddOperator(BuiltinOperator.Reshape, 1, [input], [output], new ReshapeOptionsTable(outputShape));
        return output;
    }

    private int AddResult(string name, int[] shape, QParams? quant) =>
        Integer
            ? _graph.AddActivation(name, shape, TensorType.Int8, Quant(quant!))
            : _graph.AddActivation(name, shape, TensorType.Float32);

    private int AddWeight(string name, Tensor weight, QParams? quant, int quantDimension)
    {
        int[] shape = weight.shape.Select(d => (int)d).ToArray();
        var flat = weight.contiguous().flatten();
        if (quant is null)
        {
            return _graph.AddConstant(name, shape, TensorType.Float32, FloatBytes(flat.data<float>().ToArray()));
        }
        var codes = flat.data<long>().ToArray();
        var bytes = new byte[codes.Length];
        for (int i = 0; i < codes.Length; i++)
        {
            bytes[i] = unchecked((byte)(sbyte)codes[i]);
        }
        var tfliteQuant = new TfliteQuant(quant.Scale, new long[quant.Count], quant.Count == 1 ? 0 : quantDimension);
        return _graph.AddConstant(name, shape, TensorType.Int8, bytes, tfliteQuant);
    }

    private int AddBias(string name, LayerConstants constants, QParams? inputQuant)
    {
        if (constants.IntBias is null)
        {
            return _graph.AddConstant(name, [constants.FloatBias!.Length], TensorType.Float32, FloatBytes(constants.FloatBias));
        }
        // One bias scale per weight scale: in_scale·w_scale.
        var scales = constants.WeightQuant!.Scale.Select(w => (float)((double)inputQuant!.Scale[0] * w)).ToArray();
        var bytes = MemoryMarshal.AsBytes(constants.IntBias.AsSpan()).ToArray();
        return _graph.AddConstant(name, [constants.IntBias.Length], TensorType.Int32, bytes, new TfliteQuant(scales, new long[scales.Length]));
    }

    private static byte[] FloatBytes(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static TfliteQuant Quant(QParams quant) => new(quant.Scale, quant.ZeroPoint);
}
