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
        long height = model.InputShape[1], width = model.InputShape[2];
        for (int i = 0; i < model.Blocks.Count; i++)
        {
            var block = model.Blocks[i];
            int k = block.KernelSize;
            long convHeight = height + 2 * (k / 2) - k + 1;
            long convWidth = width + 2 * (k / 2) - k + 1;
            long positions = convHeight * convWidth;
            if (block.Depthwise is { } depthwise)
                layers.Add(Layer($"block{i}.depthwise", depthwise, depthwise.weight!.numel() * positions));
            if (block.DepthwiseBn is { } depthwiseBn)
                layers.Add(Layer($"block{i}.depthwise_bn", depthwiseBn, 0));
            layers.Add(Layer($"block{i}.conv", block.Conv, block.Conv.weight!.numel() * positions));
            if (block.Bn is { } bn)
                layers.Add(Layer($"block{i}.bn", bn, 0));
            (height, width) = block.Pool is null ? (convHeight, convWidth) : (convHeight / 2, convWidth / 2);
            long[] tap = model.TapShape($"block{i}");
            if (tap[0] != block.OutChannels || tap[1] != height || tap[2] != width)
                throw new InvalidOperationException(
                    $"block{i}: computed output [{block.OutChannels},{height},{width}] but the model says [{string.Join(",", tap)}]");
        }
        for (int i = 0; i < model.Head.Hidden.Count; i++)
            layers.Add(Layer($"head.fc{i}", model.Head.Hidden[i], model.Head.Hidden[i].weight!.numel()));
        layers.Add(Layer("head.out", model.Head.Output, model.Head.Output.weight!.numel()));

        long parameters = layers.Sum(l => l.Parameters);
        if (parameters != model.ParameterCount)
            throw new InvalidOperationException($"layers hold {parameters} parameters but the model has {model.ParameterCount}");
        return new ModelCompute(parameters, layers.Sum(l => l.Macs), layers);
    }

    private static LayerCompute Layer(string name, nn.Module module, long macs) =>
        new(name, module.parameters().Where(p => p.requires_grad).Sum(p => p.numel()), macs);
}
