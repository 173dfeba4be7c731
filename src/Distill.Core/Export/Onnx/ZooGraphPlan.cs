using Distill.Core.Models;
using Distill.Core.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Export.Onnx;

/// <summary>Geometry of a 2-D convolution as ONNX's Conv takes it.</summary>
internal sealed record ConvGeometry(long[] Kernel, long[] Strides, long[] Pads, long[] Dilations, long Groups);

/// <summary>One step of a zoo model's inference graph, in order.</summary>
internal abstract record PlanStep;

/// <summary>A conv (<see cref="Conv"/> set) or a linear layer, with its batch norm already folded into
/// <see cref="Weight"/> and <see cref="Bias"/>. Named as <see cref="QuantizedZooModel"/> names layers.</summary>
internal sealed record LayerStep(string Name, float[] Weight, long[] WeightShape, float[]? Bias, ConvGeometry? Conv, bool Relu, bool HasBatchNorm) : PlanStep;

/// <summary>Max-pooling after the conv block <see cref="Block"/>.</summary>
internal sealed record PoolStep(string Block, long[] Kernel, long[] Strides, long[] Pads, long[] Dilations, bool CeilMode) : PlanStep;

/// <summary>Flatten to [batch, features] before the classifier head.</summary>
internal sealed record FlattenStep : PlanStep;

/// <summary>The inference graph of a zoo model in eval mode: dropouts are gone (identity at inference) and
/// batch norms are folded into their convs. Building it checks that every layer can be written as ONNX.</summary>
internal sealed class ZooGraphPlan
{
    private ZooGraphPlan(IReadOnlyList<PlanStep> steps) => Steps = steps;

    public IReadOnlyList<PlanStep> Steps { get; }

    public IEnumerable<LayerStep> Layers => Steps.OfType<LayerStep>();

    /// <summary>Throws <see cref="InvalidInputException"/> naming the first layer that cannot be lowered.</summary>
    public static ZooGraphPlan From(ZooModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var steps = new List<PlanStep>();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        for (int i = 0; i < model.Blocks.Count; i++)
        {
            var block = model.Blocks[i];
            if (block.Depthwise is not null)
            {
                steps.Add(ConvLayer($"block{i}.depthwise", block.Depthwise, block.DepthwiseBn, $"block{i}.depthwise_bn"));
            }
            steps.Add(ConvLayer($"block{i}.conv", block.Conv, block.Bn, $"block{i}.bn"));
            if (block.Pool is not null)
            {
                steps.Add(Pool($"block{i}", block.Pool));
            }
        }
        steps.Add(new FlattenStep());
        for (int i = 0; i < model.Head.Hidden.Count; i++)
        {
            steps.Add(LinearLayer($"head.fc{i}", model.Head.Hidden[i], relu: true));
        }
        steps.Add(LinearLayer("head.out", model.Head.Output, relu: false));
        return new ZooGraphPlan(steps);
    }

    private static LayerStep ConvLayer(string name, Conv2d conv, BatchNorm2d? bn, string bnName)
    {
        if (conv.transposed)
        {
            throw new InvalidInputException($"layer '{name}' is a transposed convolution, which the ONNX export does not lower.");
        }
        if (conv.padding_mode != PaddingModes.Zeros)
        {
            throw new InvalidInputException($"layer '{name}' pads with {conv.padding_mode}; the ONNX export lowers zero padding only.");
        }
        if (conv.padding_type is not null || conv.padding is null)
        {
            throw new InvalidInputException($"layer '{name}' uses '{conv.padding_type}' padding; the ONNX export needs explicit padding sizes.");
        }
        var geometry = new ConvGeometry(
            conv.kernel_size,
            conv.stride,
            [.. conv.padding, .. conv.padding],
            conv.dilation,
            conv.groups);
        Tensor weight = conv.weight!;
        Tensor? bias = conv.bias;
        if (bn is not null)
        {
            if (bn.running_mean is null || bn.running_var is null)
            {
                throw new InvalidInputException($"batch norm '{bnName}' keeps no running statistics, so it cannot be folded into '{name}' for export.");
            }
            (weight, bias) = BnFolding.Fold(conv, bn);
        }
        return new LayerStep(name, Floats(weight), weight.shape, bias is null ? null : Floats(bias), geometry, Relu: true, HasBatchNorm: bn is not null);
    }

    private static LayerStep LinearLayer(string name, Linear linear, bool relu) =>
        new(name, Floats(linear.weight!), linear.weight!.shape, linear.bias is null ? null : Floats(linear.bias), null, relu, HasBatchNorm: false);

    private static PoolStep Pool(string block, MaxPool2d pool)
    {
        long[] kernel = Pair(pool.kernel_size, null, block);
        long[] strides = Pair(pool.stride, kernel, block);
        long[] padding = Pair(pool.padding, [0, 0], block);
        long[] dilation = Pair(pool.dilation, [1, 1], block);
        return new PoolStep(block, kernel, strides, [.. padding, .. padding], dilation, pool.ceil_mode);
    }

    /// <summary>TorchSharp keeps a size given as one number as a single element.</summary>
    private static long[] Pair(long[]? value, long[]? fallback, string block) => value switch
    {
        null when fallback is not null => fallback,
        [long v] => [v, v],
        [_, _] => value,
        _ => throw new InvalidInputException($"the max-pool of '{block}' is not two-dimensional; the ONNX export lowers 2-D pooling only."),
    };

    internal static float[] Floats(Tensor t)
    {
        using var values = t.detach().to_type(ScalarType.Float32).cpu().contiguous();
        return values.data<float>().ToArray();
    }
}
