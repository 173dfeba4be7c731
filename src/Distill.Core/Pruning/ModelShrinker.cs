using System.Text.RegularExpressions;
using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Pruning;

/// <summary>Physically removes pruned channels: a block's output channel (or a hidden unit of the head)
/// whose whole channel group (<see cref="ChannelGroups"/>) is masked contributes exact zeros downstream, so
/// a model built with fewer channels, holding the kept weights, computes the same outputs.</summary>
public static partial class ModelShrinker
{
    /// <summary>A smaller model with the same outputs, and the masks cut to fit it. The caller owns both.</summary>
    public static (ZooModel Model, MaskSet Masks) Shrink(ZooModel model, MaskSet masks)
    {
        var keptChannels = Enumerable.Range(0, model.Blocks.Count)
            .Select(i => KeptUnits(model, masks, $"block{i}.conv.weight", model.Blocks[i].OutChannels)).ToArray();
        var keptHidden = Enumerable.Range(0, model.Head.Hidden.Count)
            .Select(i => KeptUnits(model, masks, $"head.fc{i}.weight", model.Head.Hidden[i].weight!.shape[0])).ToArray();

        var spec = model.Spec with
        {
            Channels = model.Spec.Arch == ModelArch.Cnn ? keptChannels.Select(k => k.Length).ToArray() : model.Spec.Channels,
            Hidden = keptHidden.Select(k => k.Length).ToArray(),
        };
        var slicer = new Slicer(model, keptChannels, keptHidden);
        var shrunk = ModelZoo.Build(spec, model.InputShape, model.NumClasses).to(ComputeDevice.Of(model));
        var shrunkMasks = new MaskSet();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            // Not state_dict(): TorchSharp lists every submodule held in a property twice there (once under its
            // backing field's name); the named parameters and buffers are the real entries, each once.
            var source = Entries(model).ToDictionary(e => e.Name, e => e.Value);
            foreach (var (name, target) in Entries(shrunk))
                target.copy_(slicer.Slice(name, source[name]));
            foreach (var name in masks.Names)
                shrunkMasks.Set(name, slicer.Slice(name, masks.Get(name)!));
            foreach (var target in masks.Targets)
                shrunkMasks.AddTarget(target);
            shrunk.train(model.training);
        }
        catch
        {
            shrunk.Dispose();
            shrunkMasks.Dispose();
            throw;
        }
        return (shrunk, shrunkMasks);
    }

    private static IEnumerable<(string Name, Tensor Value)> Entries(ZooModel model) =>
        model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(model.named_buffers());

    /// <summary>Indices of the units of a layer that are not wholly masked; at least one is kept.</summary>
    private static long[] KeptUnits(ZooModel model, MaskSet masks, string layer, long units)
    {
        using var scope = NewDisposeScope();
        // A unit survives if any member of its group still has a live entry for it.
        var alive = zeros(units, dtype: ScalarType.Bool, device: ComputeDevice.Of(model));
        foreach (var member in ChannelGroups.Members(model, layer))
        {
            if (masks.Get(member) is not { } mask)
                return Enumerable.Range(0, (int)units).Select(i => (long)i).ToArray();
            alive = alive.logical_or(ComputeDevice.Move(mask.reshape(units, -1).sum(1).gt(0), alive.device));
        }
        var kept = Enumerable.Range(0, (int)units).Where(i => alive[i].item<bool>()).Select(i => (long)i).ToArray();
        return kept.Length > 0 ? kept : [0];
    }

    [GeneratedRegex(@"^block(\d+)\.(depthwise|depthwise_bn|conv|bn)\.(\w+)$")]
    private static partial Regex BlockEntry();

    [GeneratedRegex(@"^head\.(?:fc(\d+)|(out))\.(weight|bias)$")]
    private static partial Regex HeadEntry();

    /// <summary>Which indices of which dimensions of an old tensor survive, by state-dict name.</summary>
    private sealed class Slicer(ZooModel model, long[][] keptChannels, long[][] keptHidden)
    {
        private readonly long[]? _features = FeatureIndex(model, keptChannels);

        public Tensor Slice(string name, Tensor value)
        {
            var result = value;
            foreach (var (dim, index) in Slices(name))
                result = result.index_select(dim, tensor(index, device: value.device));
            return result;
        }

        private IEnumerable<(int Dim, long[] Index)> Slices(string name)
        {
            if (BlockEntry().Match(name) is { Success: true } block)
            {
                int i = int.Parse(block.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                string module = block.Groups[2].Value, entry = block.Groups[3].Value;
                if (entry == "num_batches_tracked")
                    yield break;
                var inputs = i == 0 ? null : keptChannels[i - 1];
                if (module is "depthwise" or "depthwise_bn")
                {
                    if (inputs is not null)
                        yield return (0, inputs);
                    yield break;
                }
                yield return (0, keptChannels[i]);
                if (module == "conv" && entry == "weight" && inputs is not null)
                    yield return (1, inputs);
                yield break;
            }
            if (HeadEntry().Match(name) is { Success: true } head)
            {
                bool output = head.Groups[2].Success;
                int j = output ? keptHidden.Length : int.Parse(head.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                if (!output)
                    yield return (0, keptHidden[j]);
                if (head.Groups[3].Value == "weight")
                {
                    var inputs = j == 0 ? _features : keptHidden[j - 1];
                    if (inputs is not null)
                        yield return (1, inputs);
                }
                yield break;
            }
            throw new InvalidOperationException($"the shrinker does not know the model entry {name}");
        }

        /// <summary>Flattened head inputs that survive: channel c of the last block covers c·H·W … c·H·W + H·W − 1.</summary>
        private static long[]? FeatureIndex(ZooModel model, long[][] keptChannels)
        {
            if (model.Blocks.Count == 0)
                return null;
            var shape = model.TapShape($"block{model.Blocks.Count - 1}");
            long area = shape[1] * shape[2];
            return keptChannels[^1].SelectMany(c => Enumerable.Range(0, (int)area).Select(p => c * area + p)).ToArray();
        }
    }
}
