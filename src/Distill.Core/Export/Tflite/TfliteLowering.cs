using System.Runtime.InteropServices;
using Distill.Core.Models;
using Distill.Core.Quantization;
using static Distill.Core.Export.Tflite.TfliteSchema;
using static TorchSharp.torch;

namespace Distill.Core.Export.Tflite;

/// <summary>The lowered graph and the qparams of its integer edges.</summary>
internal sealed record LoweredModel(TfliteGraph Graph, QParams? InputQuant, QParams? OutputQuant);

/// <summary>Turns a zoo model into TFLite operators, one step per node of its <see cref="ModelGraph"/> (a conv or
/// linear layer takes its batch norm and ReLU along; dropouts vanish). Call within a dispose scope and no_grad.</summary>
internal sealed class TfliteLowering(ZooModel model, ILayerSource source, int batch, bool integerIo)
{
    private readonly TfliteGraph _graph = new();

    private bool Integer => source.IsInteger;

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

        var quant = source.InputQuant;
        int current = AddInput(inputShape, quant);
        var fused = new HashSet<GraphNode>();
        (long C, long H, long W)? flattenedFrom = null;
        foreach (var node in graph.Nodes)
        {
            if (fused.Contains(node) || node.Kind == LayerKind.Dropout)
            {
                continue;
            }
            switch (node.Kind)
            {
                case LayerKind.Conv or LayerKind.Depthwise or LayerKind.Linear:
                    var layer = graph.Layer(node.Name);
                    fused.UnionWith(new[] { layer.BatchNorm, layer.Activation }.OfType<GraphNode>());
                    var relu = layer.Activation is null ? Activation.None : layer.Relu6 ? Activation.Relu6 : Activation.Relu;
                    if (node.Kind == LayerKind.Linear)
                    {
                        current = Linear(node.Name, current, relu, flattenedFrom, ref quant);
                        flattenedFrom = null;
                    }
                    else
                    {
                        current = Conv(node.Name, (int)node.Weight.shape[2], node.Kind == LayerKind.Depthwise, relu, current, Nhwc(node.Shape), ref quant);
                    }
                    break;
                case LayerKind.MaxPool:
                    current = MaxPool(node, current, quant);
                    break;
                case LayerKind.Flatten when node.Inputs[0] == ModelGraph.InputName && flatInput:
                    break;
                case LayerKind.Flatten:
                    var from = graph.InputShapeOf(node);
                    current = Reshape(node.Name, current, [batch, (int)node.Shape[0]], quant);
                    flattenedFrom = (from[0], from[1], from[2]);
                    break;
                default:
                    throw new InvalidInputException($"node '{node.Name}' ({node.Kind}) cannot be lowered to TFLite.");
            }
        }
        AddOutput(current);
        return new LoweredModel(_graph, source.InputQuant, quant);
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

    private int Conv(string name, int kernel, bool depthwise, Activation activation, int input, int[] outputShape, ref QParams? quant)
    {
        if (kernel % 2 == 0)
        {
            throw new InvalidInputException(
                $"layer '{name}' cannot be lowered to TFLite: its kernel size {kernel} is even; PyTorch pads it by {kernel / 2} on both sides, which TFLite's SAME padding cannot express (use an odd kernel).");
        }
        var constants = source.Layer(name, quant);
        // PyTorch [O, I, kH, kW] → TFLite CONV_2D [O, kH, kW, I]; depthwise [C, 1, kH, kW] → [1, kH, kW, C].
        var weight = depthwise ? constants.Weight.permute(1, 2, 3, 0) : constants.Weight.permute(0, 2, 3, 1);
        int weightTensor = AddWeight($"{name}.weight", weight, constants.WeightQuant, quantDimension: depthwise ? 3 : 0);
        int biasTensor = AddBias($"{name}.bias", constants, quant);
        int output = AddResult(OutputTensorName(name), outputShape, constants.OutputQuant);
        TfliteOptions options = depthwise
            ? new DepthwiseConv2DOptionsTable(Padding.Same, 1, activation)
            : new Conv2DOptionsTable(Padding.Same, 1, activation);
        var op = depthwise ? BuiltinOperator.DepthwiseConv2D : BuiltinOperator.Conv2D;
        _graph.AddOperator(op, Integer ? 3 : 1, [input, weightTensor, biasTensor], [output], options);
        quant = constants.OutputQuant;
        return output;
    }

    private int Linear(string name, int input, Activation activation, (long C, long H, long W)? flattenedFrom, ref QParams? quant)
    {
        var constants = source.Layer(name, quant);
        var weight = constants.Weight;
        if (flattenedFrom is var (c, h, w))
        {
            // The input is flattened from NHWC, PyTorch flattened NCHW: reorder the weight's columns to match.
            long outFeatures = weight.shape[0];
            weight = weight.reshape(outFeatures, c, h, w).permute(0, 2, 3, 1).reshape(outFeatures, h * w * c);
        }
        int weightTensor = AddWeight($"{name}.weight", weight, constants.WeightQuant, quantDimension: 0);
        int biasTensor = AddBias($"{name}.bias", constants, quant);
        int output = AddResult(OutputTensorName(name), [batch, (int)weight.shape[0]], constants.OutputQuant);
        _graph.AddOperator(BuiltinOperator.FullyConnected, Integer ? 4 : 1, [input, weightTensor, biasTensor], [output],
            new FullyConnectedOptionsTable(activation));
        quant = constants.OutputQuant;
        return output;
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
