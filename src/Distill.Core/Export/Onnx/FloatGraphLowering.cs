using Distill.Core.Models;

namespace Distill.Core.Export.Onnx;

/// <summary>Writes a <see cref="ZooGraphPlan"/> as a float graph: Conv / Gemm (transB) with folded weights,
/// Relu, MaxPool, Flatten, and for residual models Add, Clip (ReLU6) and GlobalAveragePool. With <c>half</c> every weight is float16 and so is the computation.</summary>
internal static class FloatGraphLowering
{
    /// <summary>Returns the name of the logits tensor. When <paramref name="taps"/> is given, it receives the
    /// graph tensor of every zoo tap the steps produce, by tap name.</summary>
    public static string Lower(OnnxGraph graph, ZooGraphPlan plan, bool half, string input, IDictionary<string, string>? taps = null)
    {
        // The graph tensor of each graph node's value, by node name.
        var values = new Dictionary<string, string> { [ModelGraph.InputName] = input };
        string h = input;
        foreach (var step in plan.Steps)
        {
            string x = values[step.Inputs[0]];
            h = step switch
            {
                LayerStep layer => Layer(graph, layer, half, x),
                PoolStep pool => MaxPool(graph, pool, x, pool.Name),
                FlattenStep => Flatten(graph, x, ZooModel.FeaturesTap),
                ElementStep element => Element(graph, element, half, [.. step.Inputs.Select(i => values[i])]),
                _ => throw new InvalidOperationException($"unknown plan step {step}"),
            };
            values[step.Output] = h;
            if (step.Tap is { } tap && taps is not null)
            {
                taps[tap] = h;
            }
        }
        return h;
    }

    /// <summary>Add (a residual join), Relu, Relu6 as Clip(0, 6), global average pooling as GlobalAveragePool then
    /// Flatten ([N, C, H, W] → [N, C, 1, 1] → [N, C]; ReduceMean's axes moved from attribute to input in opset 18).</summary>
    private static string Element(OnnxGraph graph, ElementStep step, bool half, IReadOnlyList<string> inputs) => step.Kind switch
    {
        LayerKind.Add => graph.Node("Add", step.Name, inputs, step.Name),
        LayerKind.Relu => graph.Node("Relu", step.Name, [inputs[0]], step.Name),
        LayerKind.Relu6 => graph.Node("Clip", step.Name, [inputs[0], Scalar(graph, $"{step.Name}.min", 0, half), Scalar(graph, $"{step.Name}.max", 6, half)], step.Name),
        LayerKind.GlobalAvgPool => graph.Node("Flatten", $"{step.Name}.flatten",
            [graph.Node("GlobalAveragePool", step.Name, [inputs[0]], $"{step.Name}.pooled")], step.Name, OnnxGraph.Int("axis", 1)),
        _ => throw new InvalidInputException($"node '{step.Name}' ({step.Kind}) has no float ONNX lowering."),
    };

    private static string Scalar(OnnxGraph graph, string name, float value, bool half) =>
        half ? graph.Float16Tensor(name, [value], []) : graph.FloatTensor(name, [value], []);

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
        if (!layer.Relu)
            return y;
        return layer.Relu6
            ? graph.Node("Clip", layer.ActivationName, [y, Scalar(graph, $"{layer.ActivationName}.min", 0, half), Scalar(graph, $"{layer.ActivationName}.max", 6, half)], $"{layer.Name}.output")
            : graph.Node("Relu", layer.ActivationName, [y], $"{layer.Name}.output");
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
