using System.Runtime.InteropServices;
using Distill.Core.Models;
using Distill.Core.Quantization;
using static Distill.Core.Export.Tflite.TfliteSchema;
using static TorchSharp.torch;

namespace Distill.Core.Export.Tflite;

/// <summary>The lowered graph and the qparams of its integer edges.</summary>
internal sealed record LoweredModel(TfliteGraph Graph, QParams? InputQuant, QParams? OutputQuant);

/// <summary>Turns a zoo model into TFLite operators, layer by layer, in the order <see cref="ZooModel.forward"/>
/// runs them. Call within a dispose scope and no_grad.</summary>
internal sealed class TfliteLowering(ZooModel model, ILayerSource source, int batch, bool integerIo)
{
    private readonly TfliteGraph _graph = new();

    private bool Integer => source.IsInteger;

    public LoweredModel Lower()
    {
        bool cnn = model.Blocks.Count > 0;
        var sample = model.InputShape;
        int[] inputShape = cnn
            ? [batch, (int)sample[1], (int)sample[2], (int)sample[0]]
            : [batch, (int)sample.Aggregate(1L, (a, b) => a * b)];

        var quant = source.InputQuant;
        int current = AddInput(inputShape, quant);
        long channels = cnn ? sample[0] : 0, height = cnn ? sample[1] : 0, width = cnn ? sample[2] : 0;
        for (int i = 0; i < model.Blocks.Count; i++)
        {
            var block = model.Blocks[i];
            if (block.Depthwise is not null)
            {
                current = Conv($"block{i}.depthwise", KernelOf(block.Depthwise), depthwise: true, current, [batch, (int)height, (int)width, (int)channels], ref quant);
            }
            channels = block.OutChannels;
            current = Conv($"block{i}.conv", KernelOf(block.Conv), depthwise: false, current, [batch, (int)height, (int)width, (int)channels], ref quant);
            if (block.Pool is not null)
            {
                height /= 2;
                width /= 2;
                current = MaxPool($"block{i}.pool", current, [batch, (int)height, (int)width, (int)channels], quant);
            }
        }

        (long C, long H, long W)? flattenedFrom = null;
        if (cnn)
        {
            int features = (int)(channels * height * width);
            current = Reshape("head.flatten", current, [batch, features], quant);
            flattenedFrom = (channels, height, width);
        }
        for (int i = 0; i < model.Head.Hidden.Count; i++)
        {
            current = Linear($"head.fc{i}", current, relu: true, flattenedFrom, ref quant);
            flattenedFrom = null;
        }
        current = Linear("head.out", current, relu: false, flattenedFrom, ref quant);
        AddOutput(current);
        return new LoweredModel(_graph, source.InputQuant, quant);
    }

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
        layer == "head.out" && (!Integer || integerIo) ? TfliteExporter.OutputName : $"{layer}.output";

    private int Conv(string name, int kernel, bool depthwise, int input, int[] outputShape, ref QParams? quant)
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
            ? new DepthwiseConv2DOptionsTable(Padding.Same, 1, Activation.Relu)
            : new Conv2DOptionsTable(Padding.Same, 1, Activation.Relu);
        var op = depthwise ? BuiltinOperator.DepthwiseConv2D : BuiltinOperator.Conv2D;
        _graph.AddOperator(op, Integer ? 3 : 1, [input, weightTensor, biasTensor], [output], options);
        quant = constants.OutputQuant;
        return output;
    }

    private int Linear(string name, int input, bool relu, (long C, long H, long W)? flattenedFrom, ref QParams? quant)
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
            new FullyConnectedOptionsTable(relu ? Activation.Relu : Activation.None));
        quant = constants.OutputQuant;
        return output;
    }

    private int MaxPool(string name, int input, int[] outputShape, QParams? quant)
    {
        int output = AddResult($"{name}.output", outputShape, quant);
        _graph.AddOperator(BuiltinOperator.MaxPool2D, Integer ? 2 : 1, [input], [output], new Pool2DOptionsTable(Padding.Valid, 2, 2));
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

    private static int KernelOf(TorchSharp.Modules.Conv2d conv) => (int)conv.weight!.shape[2];

    private static byte[] FloatBytes(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static TfliteQuant Quant(QParams quant) => new(quant.Scale, quant.ZeroPoint);
}
