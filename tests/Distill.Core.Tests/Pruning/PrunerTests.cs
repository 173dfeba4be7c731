using Distill.Core.Models;
using Distill.Core.Pruning;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Pruning;

public class PrunerTests
{
    private static readonly LayerPattern[] HiddenLayers = [new("head.fc*")];

    /// <summary>An mlp whose second hidden layer's weights are all larger than 9 in magnitude, while the first's
    /// are below 1/8 (TorchSharp's default init for 64 inputs).</summary>
    private static ZooModel LopsidedMlp()
    {
        manual_seed(11);
        var model = ModelZoo.Build(PruningModels.Mlp, [64], 10);
        using var noGrad = no_grad();
        var fc1 = PruningModels.Parameter(model, "head.fc1.weight");
        fc1.add_(fc1.sign().mul(10));
        return model;
    }

    private static double LayerSparsity(ZooModel model, string name)
    {
        var weight = PruningModels.Parameter(model, name);
        return 1 - weight.count_nonzero().item<long>() / (double)weight.numel();
    }

    [Fact]
    public void GlobalAndLayerWiseRankingsDifferOnALopsidedModel()
    {
        using var global = LopsidedMlp();
        using var layer = LopsidedMlp();
        using var globalMasks = new MaskSet();
        using var layerMasks = new MaskSet();
        new Pruner(global, new PruneOptions { KeepFirstLastDense = false, Sparsity = 0.5, Layers = HiddenLayers }, "p").Update(global, globalMasks, s => s);
        new Pruner(layer, new PruneOptions { KeepFirstLastDense = false, Sparsity = 0.5, Ranking = PruneRanking.Layer, Layers = HiddenLayers }, "p").Update(layer, layerMasks, s => s);

        // fc0 has 64·32 = 2048 weights, fc1 32·32 = 1024: half of 3072 is 1536, all of them small fc0 weights.
        Assert.Equal(0.75, LayerSparsity(global, "head.fc0.weight"), 12);
        Assert.Equal(0.0, LayerSparsity(global, "head.fc1.weight"), 12);
        Assert.Equal(0.5, LayerSparsity(layer, "head.fc0.weight"), 12);
        Assert.Equal(0.5, LayerSparsity(layer, "head.fc1.weight"), 12);
        Assert.Equal(0.5, SparsityReport.Sparsity(global, globalMasks)!.Value, 12);
        Assert.Equal(0.5, SparsityReport.Sparsity(layer, layerMasks)!.Value, 12);
    }

    [Fact]
    public void OverrideIsRankedOnItsOwn()
    {
        using var model = LopsidedMlp();
        using var masks = new MaskSet();
        var options = new PruneOptions { KeepFirstLastDense = false, Sparsity = 0.5, Layers = HiddenLayers, Overrides = [new LayerSparsity("head.fc1.weight", 0.25)] };
        new Pruner(model, options, "p").Update(model, masks, s => s);
        Assert.Equal(0.5, LayerSparsity(model, "head.fc0.weight"), 12);
        Assert.Equal(0.25, LayerSparsity(model, "head.fc1.weight"), 12);
    }

    [Fact]
    public void ScheduledTargetsGrowAndEarlierZerosStay()
    {
        using var model = LopsidedMlp();
        using var masks = new MaskSet();
        var pruner = new Pruner(model, new PruneOptions { KeepFirstLastDense = false, Sparsity = 0.75, Ranking = PruneRanking.Layer, Layers = HiddenLayers }, "p");
        pruner.Update(model, masks, s => s * 0.5);
        var firstZeros = PruningModels.Parameter(model, "head.fc0.weight").eq(0);
        Assert.Equal(0.375, LayerSparsity(model, "head.fc0.weight"), 12);
        using (no_grad())
            PruningModels.Parameter(model, "head.fc0.weight").add_(randn(32, 64).mul(0.01));
        pruner.Update(model, masks, s => s);
        Assert.Equal(0.75, LayerSparsity(model, "head.fc0.weight"), 12);
        Assert.True(PruningModels.Parameter(model, "head.fc0.weight").masked_select(firstZeros).eq(0).all().item<bool>());
    }
}
