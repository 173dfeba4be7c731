using Distill.Core.Models;

namespace Distill.Core.Export.Onnx;

/// <summary>Writes a <see cref="ZooGraphPlan"/> as a float graph: Conv / Gemm (transB) with folded weights,
/// Relu, MaxPool, Flatten. With <c>half</c> every weight is float16 and so is the computation.</summary>
internal static class FloatGraphLowering
{
    /// <summary>Returns the name of the logits tensor. When <paramref name="taps"/> is given, it receives the
    /// graph tensor of every zoo tap the steps produce, by tap name.</summary>
    public static string Lower(OnnxGraph graph, ZooGraphPlan plan, bool half, string input, IDictionary<string, string>? taps = null)
    {
        string h = input;
        foreach (var step in plan.Steps)
        {
            h = step switch
            {
                LayerStep layer => Layer(graph, layer, half, h),
                PoolStep pool => MaxPool(graph, pool, h, pool.Name),
                FlattenStep => Flatten(graph, h, ZooModel.FeaturesTap),
                _ => throw new InvalidOperationException($"unknown plan step {step}"),
            };
            if (step.Tap is { } tap && taps is not null)
            {
                taps[tap] = h;
            }
        }
        return h;
    }

    private static string Layer(OnnxGraph graph, LayerStep layer, bool half, string x)
    {
        string weight = half
            ? graph.Float16Tensor($"{layer.Name}.weight", layer.Weight, layer.WeightShape)
            : graph.FloatTensor($"{layer.Name}.weight", layer.Weight, layer.WeightShape);
        var inputs = new List<string> { x, weight };
        if (layer.Bias is not null)
        {
            long[] dims = [layer.Bias.Length];
            inputs.Add(half ? graph.Float16Tensor($"{layer.Name}.bias", layer.Bias, dims) : graph.FloatTensor($"{layer.Name}.bias", layer.Bias, dims));
        }
        string output = layer.Relu ? $"{layer.Name}.preact" : $"{layer.Name}.output";
        string y = LinearOp(graph, layer, inputs, output);
        return layer.Relu ? graph.Node("Relu", $"{layer.Name}.relu", [y], $"{layer.Name}.output") : y;
    }

    /// <summary>The Conv or Gemm node of a layer whose weight and bias inputs are already in the graph.</summary>
    public static string LinearOp(OnnxGraph graph, LayerStep layer, IReadOnlyList<string> inputs, string output) =>
        layer.Conv is { } conv
            ? graph.Node("Conv", layer.Name, inputs, output,
                OnnxGraph.Ints("kernel_shape", conv.Kernel),
                OnnxGraph.Ints("strides", conv.Strides),
                OnnxGraph.Ints("pads", conv.Pads),
                OnnxGraph.Ints("dilations", conv.Dilations),
                OnnxGraph.Int("group", conv.Groups))
            : graph.Node("Gemm", layer.Name, inputs, output, OnnxGraph.Int("transB", 1));

    public static string MaxPool(OnnxGraph graph, PoolStep pool, string x, string output) =>
        graph.Node("MaxPool", pool.Name, [x], output,
            OnnxGraph.Ints("kernel_shape", pool.Kernel),
            OnnxGraph.Ints("strides", pool.Strides),
            OnnxGraph.Ints("pads", pool.Pads),
            OnnxGraph.Ints("dilations", pool.Dilations),
            OnnxGraph.Int("ceil_mode", pool.CeilMode ? 1 : 0));

    public static string Flatten(OnnxGraph graph, string x, string output) =>
        graph.Node("Flatten", "flatten", [x], output, OnnxGraph.Int("axis", 1));
}
