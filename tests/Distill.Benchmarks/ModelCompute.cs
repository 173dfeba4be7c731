using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

/// <summary>Trainable parameters and multiply-accumulates of one layer for one input sample.</summary>
public sealed record LayerCompute(string Name, long Parameters, long Macs);

/// <summary>Forward compute of a zoo cnn per sample, from its layer shapes. MACs count the
/// convolutions (weights × output positions) and the linear layers (weights); batch-norm
/// (foldable into the conv), ReLU, pooling and biases are additions or comparisons and are not counted.</summary>
public sealed record ModelCompute(long Parameters, long Macs, IReadOnlyList<LayerCompute> Layers)
{
    public static ModelCompute Of(ZooModel model)
    {
        if (model.InputShape.Length != 3)
            throw new ArgumentException("only cnn models (input [C,H,W]) are described", nameof(model));
        var layers = new List<LayerCompute>();
        foreach (var node in model.Graph.Nodes.Where(n => n.Module is not null && n.Module.parameters().Any()))
        {
            long macs = node.Kind switch
            {
                // Weights × output positions ([C, H, W] per sample).
                LayerKind.Conv or LayerKind.Depthwise => node.Weight.numel() * node.Shape[1] * node.Shape[2],
                LayerKind.Linear => node.Weight.numel(),
                _ => 0,
            };
            layers.Add(Layer(node.Name, node.Module!, macs));
        }

        long parameters = layers.Sum(l => l.Parameters);
        if (parameters != model.ParameterCount)
            throw new InvalidOperationException($"layers hold {parameters} parameters but the model has {model.ParameterCount}");
        return new ModelCompute(parameters, layers.Sum(l => l.Macs), layers);
    }

    private static LayerCompute Layer(string name, nn.Module module, long macs) =>
        new(name, module.parameters().Where(p => p.requires_grad).Sum(p => p.numel()), macs);
}
