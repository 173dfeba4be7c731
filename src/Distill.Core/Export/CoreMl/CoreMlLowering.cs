using Distill.Core.Export.CoreMl.Proto;
using Distill.Core.Models;
using Distill.Core.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Export.CoreMl;

/// <summary>Turns a zoo model's <see cref="ModelGraph"/> into Core ML neural-network layers, one step per node (a conv or
/// linear layer takes its batch norm along, folded into its weights; dropouts vanish). Blobs are named after the node
/// that makes them; the model's output blob is <see cref="CoreMlExporter.LogitsName"/>. Call within a dispose scope and
/// no_grad, with the model in eval mode.</summary>
internal sealed class CoreMlLowering(ModelGraph graph, ExportOptions options)
{
    private readonly List<NeuralNetworkLayer> _layers = [];
    private readonly Dictionary<string, string> _blobs = new() { [ModelGraph.InputName] = CoreMlExporter.InputName };

    public IReadOnlyList<NeuralNetworkLayer> Lower()
    {
        var fused = new HashSet<GraphNode>();
        foreach (var node in graph.Nodes)
        {
            if (fused.Contains(node))
                continue;
            string input = _blobs[node.Inputs[0]];
            switch (node.Kind)
            {
                case LayerKind.Dropout:
                    _blobs[node.Name] = input;
                    break;
                case LayerKind.Conv or LayerKind.Depthwise or LayerKind.Linear:
                    var layer = graph.Layer(node.Name);
                    if (layer.BatchNorm is { } bn)
                    {
                        fused.Add(bn);
                        _blobs[bn.Name] = node.Name;
                    }
                    Add(node, node.Kind == LayerKind.Linear ? InnerProduct(layer) : Convolution(layer), input);
                    break;
                case LayerKind.Relu:
                    Add(node, l => l.Activation = new ActivationParams { ReLU = new ActivationReLU() }, input);
                    break;
                case LayerKind.MaxPool:
                    Add(node, MaxPool(node), input);
                    break;
                case LayerKind.Flatten:
                    // [1, C, H, W] → [1, C·H·W] in C order, as PyTorch's flatten(1); a no-op on [1, features].
                    Add(node, l => l.FlattenTo2D = new FlattenTo2DLayerParams { Axis = 1 }, input);
                    break;
                default:
                    throw Unsupported(node, $"Distill's Core ML export writes {CoreMlExporter.WrittenKinds}");
            }
        }
        NameOutput();
        return _layers;
    }

    private void Add(GraphNode node, Action<NeuralNetworkLayer> set, string input)
    {
        var layer = new NeuralNetworkLayer { Name = node.Name, Input = { input }, Output = { node.Name } };
        set(layer);
        _layers.Add(layer);
        _blobs[node.Name] = node.Name;
    }

    /// <summary>The blob of the graph's output becomes <see cref="CoreMlExporter.LogitsName"/>.</summary>
    private void NameOutput()
    {
        string output = _blobs[graph.Output.Name];
        foreach (var layer in _layers)
        {
            for (int i = 0; i < layer.Output.Count; i++)
                if (layer.Output[i] == output) layer.Output[i] = CoreMlExporter.LogitsName;
            for (int i = 0; i < layer.Input.Count; i++)
                if (layer.Input[i] == output) layer.Input[i] = CoreMlExporter.LogitsName;
        }
        if (output == CoreMlExporter.InputName)
            throw new InvalidInputException("the model has no layer to write to Core ML: its output is its input");
    }

    private Action<NeuralNetworkLayer> Convolution(WeightLayer layer)
    {
        var conv = (Conv2d)layer.Node.Module!;
        if (conv.padding_mode != TorchSharp.PaddingModes.Zeros || conv.padding_type is not null || conv.padding is null)
            throw Unsupported(layer.Node, "Core ML's convolution pads with zeros by explicit amounts; this conv pads otherwise");
        var (weight, bias) = layer.Bn is { } bn ? BnFolding.Fold(conv, bn) : (conv.weight!, conv.bias);
        long outChannels = weight.shape[0];
        var padding = new BorderAmounts();
        foreach (long p in conv.padding)
            padding.BorderAmounts_.Add(new BorderAmounts.Types.EdgeSizes { StartEdgeSize = (ulong)p, EndEdgeSize = (ulong)p });
        var parameters = new ConvolutionLayerParams
        {
            OutputChannels = (ulong)outChannels,
            KernelChannels = (ulong)weight.shape[1],
            NGroups = (ulong)conv.groups,
            KernelSize = { (ulong)weight.shape[2], (ulong)weight.shape[3] },
            Stride = { conv.stride.Select(s => (ulong)s) },
            DilationFactor = { conv.dilation.Select(d => (ulong)d) },
            Valid = new ValidPadding { PaddingAmounts = padding },
            HasBias = true,
            Weights = Weights(weight, outChannels),
            Bias = Bias(bias, outChannels),
        };
        return l => l.Convolution = parameters;
    }

    private Action<NeuralNetworkLayer> InnerProduct(WeightLayer layer)
    {
        var (weight, bias) = (layer.Node.Weight, layer.Node.Bias);
        long outFeatures = weight.shape[0];
        var parameters = new InnerProductLayerParams
        {
            InputChannels = (ulong)weight.shape[1],
            OutputChannels = (ulong)outFeatures,
            HasBias = true,
            Weights = Weights(weight, outFeatures),
            Bias = Bias(bias, outFeatures),
        };
        return l => l.InnerProduct = parameters;
    }

    private static Action<NeuralNetworkLayer> MaxPool(GraphNode node)
    {
        var pool = (MaxPool2d)node.Module!;
        long[] kernel = pool.kernel_size;
        long[] stride = pool.stride ?? kernel;
        if (pool.ceil_mode || (pool.padding ?? []).Any(p => p != 0) || (pool.dilation ?? []).Any(d => d != 1))
            throw Unsupported(node, "Distill writes unpadded, undilated max pools without ceil mode to Core ML");
        var parameters = new PoolingLayerParams
        {
            Type = PoolingLayerParams.Types.PoolingType.Max,
            KernelSize = { Pair(kernel).Select(k => (ulong)k) },
            Stride = { Pair(stride).Select(s => (ulong)s) },
            Valid = new ValidPadding(),
        };
        return l => l.Pooling = parameters;
    }

    private static long[] Pair(long[] values) => values.Length == 1 ? [values[0], values[0]] : values;

    private WeightParams Weights(Tensor weight, long channels)
    {
        float[] values = weight.detach().contiguous().to(ScalarType.Float32).data<float>().ToArray();
        return options.Precision switch
        {
            ExportPrecision.Float16 => CoreMlWeights.Float16(values),
            ExportPrecision.Int8 => CoreMlWeights.Linear(values, (int)channels, options.Int8Weights),
            _ => CoreMlWeights.Float32(values),
        };
    }

    private WeightParams Bias(Tensor? bias, long channels)
    {
        float[] values = bias is null ? new float[channels] : bias.detach().contiguous().to(ScalarType.Float32).data<float>().ToArray();
        return options.Precision == ExportPrecision.Float16 ? CoreMlWeights.Float16(values) : CoreMlWeights.Float32(values);
    }

    private static InvalidInputException Unsupported(GraphNode node, string why) =>
        new($"layer '{node.Name}' ({node.Kind}) cannot be written to Core ML: {why}.");
}
