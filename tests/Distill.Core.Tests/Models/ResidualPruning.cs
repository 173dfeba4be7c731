using Distill.Core.Data;
using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Tests.Export;
using Distill.Core.Training;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

/// <summary>Channel pruning of a trained residual model, on a copy of it: the channels an add joins go together,
/// every group keeps at least <see cref="ResNetLimits.MinWidth"/>, and the shrunk model computes what the masked one
/// does, in TorchSharp, after a checkpoint round trip and in ONNX Runtime.</summary>
internal static class ResidualPruning
{
    /// <summary>Prunes half the channels of every group (per-layer ranking) of a copy of <paramref name="trained"/> and
    /// shrinks it; returns the shrunk spec for the caller's width checks.</summary>
    public static ModelSpec PruneAndShrink(ZooModel trained, DataSplits digits, ITestOutputHelper output)
    {
        using var folder = new ExportFolder();
        ModelCheckpoint.Save(folder.File("copy.ckpt"), trained, null, "student", null);
        var (model, _) = ModelCheckpoint.Load(folder.File("copy.ckpt"));
        using var _model = model;
        using var masks = new MaskSet();
        var options = new PruneOptions { Method = PruneMethod.Channel, Sparsity = 0.5, Ranking = PruneRanking.Layer, KeepFirstLastDense = false };
        new Pruner(model, options, "prune").Update(model, masks, s => s);

        // Within a group every member zeroes the same channels (a pruned channel of a stream is gone from every layer
        // adding into it), and no group keeps fewer than the minimum width.
        foreach (var group in ChannelGroups.Of(model))
        {
            var zeroed = group.Members.Select(m => ZeroChannels(masks.Get(m))).ToList();
            Assert.All(zeroed, z => Assert.Equal(zeroed[0], z));
            long width = model.Graph.Layer(group.Leader[..^".weight".Length]).Node.Weight.shape[0];
            long expectedKept = Math.Max(width - (long)Math.Round(width * 0.5), Math.Min(width, ResNetLimits.MinWidth));
            Assert.Equal(expectedKept, width - zeroed[0].Count);
        }

        model.eval();
        var x = digits.Test.Features;
        var masked = ExportModelsFixture.Logits(model, x);
        var (small, smallMasks) = ModelShrinker.Shrink(model, masks);
        using var _small = small;
        using var _smallMasks = smallMasks;
        small.eval();
        float diff = MaxAbsDiff(ExportModelsFixture.Logits(small, x), masked);
        output.WriteLine($"{model.ParameterCount} -> {small.ParameterCount} parameters ({small.Spec.Arch}), max |logit diff| {diff}");
        Assert.True(diff <= 1e-4f, $"shrunk vs masked max abs logit difference {diff}");
        Assert.Equal(ModelZoo.ParameterCount(small.Spec, small.InputShape, small.NumClasses), small.ParameterCount);
        Assert.True(small.ParameterCount < model.ParameterCount * 0.7, $"{small.ParameterCount} of {model.ParameterCount}");

        // The shrunk spec (inner widths, exact widths) survives a checkpoint, and the ONNX file runs it.
        ModelCheckpoint.Save(folder.File("small.ckpt"), small, null, "student", null);
        var (loaded, descriptor) = ModelCheckpoint.Load(folder.File("small.ckpt"));
        using (loaded)
        {
            loaded.eval();
            Assert.Equal(small.Spec.InnerWidths, descriptor.Spec.InnerWidths);
            Assert.True(MaxAbsDiff(ExportModelsFixture.Logits(loaded, x), masked) <= 1e-4f);
        }
        var info = new OnnxExporter().Export(small, null, new ExportOptions(), folder.File("small.onnx"));
        float onnxDiff = MaxAbsDiff(RunOnnx(info.Path, x), masked);
        Assert.True(onnxDiff <= 1e-4f, $"ONNX vs masked max abs logit difference {onnxDiff}");
        return small.Spec;
    }

    private static List<long> ZeroChannels(Tensor? mask)
    {
        Assert.NotNull(mask);
        using var scope = NewDisposeScope();
        var live = mask.reshape(mask.shape[0], -1).sum(1);
        return Enumerable.Range(0, (int)live.shape[0]).Where(c => live[c].item<float>() == 0).Select(c => (long)c).ToList();
    }
}
