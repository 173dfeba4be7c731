using Distill.Core.Models;
using Distill.Core.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Export.Onnx;

/// <summary>Geometry of a 2-D convolution as ONNX's Conv takes it.</summary>
internal sealed record ConvGeometry(long[] Kernel, long[] Strides, long[] Pads, long[] Dilations, long Groups);

/// <summary>One step of a zoo model's inference graph, in order; <see cref="Tap"/> is the zoo tap its output is.
/// <see cref="Output"/> is the graph node whose value the step computes and <see cref="Inputs"/> the nodes (or
/// <see cref="ModelGraph.InputName"/>) whose values it reads, so a lowering can follow branches and joins.</summary>
internal abstract record PlanStep(string? Tap)
{
    public string Output { get; init; } = "";
    public IReadOnlyList<string> Inputs { get; init; } = [];
}

/// <summary>A conv (<see cref="Conv"/> set) or a linear layer (a <see cref="WeightLayer"/> of the graph), with its
/// batch norm already folded into <see cref="Weight"/> and <see cref="Bias"/>, and its ReLU (<see cref="Relu"/>; capped
/// at 6 when <see cref="Relu6"/>).</summary>
internal sealed record LayerStep(string Name, float[] Weight, long[] WeightShape, float[]? Bias, ConvGeometry? Conv, bool Relu, bool HasBatchNorm, string? Tap) : PlanStep(Tap)
{
    public bool Relu6 { get; init; }

    /// <summary>Name of the fused activation's graph node (a ReLU6 keeps the node name the model gives it).</summary>
    public string ActivationName => Relu6 ? $"{Name}.relu6" : $"{Name}.relu";
}

/// <summary>A max-pooling node <see cref="Name"/> ("block0.pool").</summary>
internal sealed record PoolStep(string Name, long[] Kernel, long[] Strides, long[] Pads, long[] Dilations, bool CeilMode, string? Tap) : PlanStep(Tap);

/// <summary>Flatten to [batch, features].</summary>
internal sealed record FlattenStep(string? Tap) : PlanStep(Tap);

/// <summary>A node without a module that no lowering fuses into a layer: a residual add, a ReLU after it, a ReLU6,
/// a global average pool ([C, H, W] → [C]).</summary>
internal sealed record ElementStep(string Name, LayerKind Kind, string? Tap) : PlanStep(Tap);

/// <summary>The inference graph of a zoo model in eval mode, one step per node of its <see cref="ModelGraph"/> (a conv
/// or linear layer takes its batch norm and ReLU along): dropouts are gone (identity at inference) and batch norms
/// are folded into their convs. Building it checks that every node can be written as ONNX.</summary>
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
        var fused = new HashSet<GraphNode>();
        // A dropout is identity at inference: whoever reads it reads what it reads.
        var source = new Dictionary<string, string> { [ModelGraph.InputName] = ModelGraph.InputName };
        string Source(string node) => source[node];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var node in model.Graph.Nodes)
        {
            if (fused.Contains(node))
            {
                continue;
            }
            if (node.Kind == LayerKind.Dropout)
            {
                source[node.Name] = Source(node.Inputs[0]);
                continue;
            }
            IReadOnlyList<string> inputs = [.. node.Inputs.Select(Source)];
            if (node.Kind.HasWeights())
            {
                var layer = model.Graph.Layer(node.Name);
                var step = layer.Node.Module switch
                {
                    Conv2d conv => ConvLayer(layer, conv),
                    Linear linear => LinearLayer(layer, linear),
                    _ => throw new InvalidInputException($"layer '{node.Name}' ({node.Module?.GetType().Name}) has no ONNX lowering."),
                };
                steps.Add(step with { Output = layer.Last.Name, Inputs = inputs });
                source[layer.Last.Name] = layer.Last.Name;
                fused.UnionWith(new[] { layer.BatchNorm, layer.Activation }.OfType<GraphNode>());
                continue;
            }
            PlanStep other = node.Kind switch
            {
                LayerKind.MaxPool => Pool(node),
                LayerKind.Flatten => new FlattenStep(node.Tap),
                LayerKind.Add or LayerKind.Relu or LayerKind.Relu6 or LayerKind.GlobalAvgPool => new ElementStep(node.Name, node.Kind, node.Tap),
                _ => throw new InvalidInputException($"node '{node.Name}' ({node.Kind}) has no ONNX lowering."),
            };
            steps.Add(other with { Output = node.Name, Inputs = inputs });
            source[node.Name] = node.Name;
        }
        return new ZooGraphPlan(steps);
    }

    private static LayerStep ConvLayer(WeightLayer layer, Conv2d conv)
    {
        string name = layer.Name;
        var bn = layer.Bn;
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
                throw new InvalidInputException($"batch norm '{layer.BatchNorm!.Name}' keeps no running statistics, so it cannot be folded into '{name}' for export.");
            }
            (weight, bias) = BnFolding.Fold(conv, bn);
        }
        return new LayerStep(name, Floats(weight), weight.shape, bias is null ? null : Floats(bias), geometry, layer.Activation is not null, bn is not null, layer.Last.Tap)
        {
            Relu6 = layer.Relu6,
        };
    }

    private static LayerStep LinearLayer(WeightLayer layer, Linear linear) =>
        new(layer.Name, Floats(linear.weight!), linear.weight!.shape, linear.bias is null ? null : Floats(linear.bias), null, layer.Activation is not null,
            HasBatchNorm: false, layer.Last.Tap)
        {
            Relu6 = layer.Relu6,
        };

    private static PoolStep Pool(GraphNode node)
    {
        var pool = (MaxPool2d)node.Module!;
        string block = node.Name;
        long[] kernel = Pair(pool.kernel_size, null, block);
        long[] strides = Pair(pool.stride, kernel, block);
        long[] padding = Pair(pool.padding, [0, 0], block);
        long[] dilation = Pair(pool.dilation, [1, 1], block);
        return new PoolStep(block, kernel, strides, [.. padding, .. padding], dilation, pool.ceil_mode, node.Tap);
    }

    /// <summary>TorchSharp keeps a size given as one number as a single element.</summary>
    private static long[] Pair(long[]? value, long[]? fallback, string block) => value switch
    {
        null when fallback is not null => fallback,
        [long v] => [v, v],
        [_, _] => value,
        _ => throw new InvalidInputException($"the max-pool '{block}' is not two-dimensional; the ONNX export lowers 2-D pooling only."),
    };

    internal static float[] Floats(Tensor t)
    {
        using var values = t.detach().to_type(ScalarType.Float32).cpu().contiguous();
        return values.data<float>().ToArray();
    }
}
