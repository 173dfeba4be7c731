using Distill.Core.Models;
using Distill.Core.Pruning;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Pruning;

public class MaskSetTests
{
    [Fact]
    public void MasksRoundTripThroughBytes()
    {
        manual_seed(41);
        using var model = ModelZoo.Build(PruningModels.Mlp, [64], 10);
        using var masks = new MaskSet();
        new Pruner(model, new PruneOptions { Method = PruneMethod.NM }, "p").Update(model, masks, s => s);
        using var loaded = MaskSet.FromBytes("x.ckpt", masks.ToBytes(), model);
        Assert.Equal(masks.Targets, loaded.Targets);
        Assert.Equal(masks.Names.Order(), loaded.Names.Order());
        foreach (var name in masks.Names)
            Assert.True(masks.Get(name)!.eq(loaded.Get(name)!).all().item<bool>(), name);
    }

    [Fact]
    public void MasksThatDoNotFitTheModelAreBadInput()
    {
        manual_seed(42);
        using var model = ModelZoo.Build(PruningModels.Mlp, [64], 10);
        using var other = ModelZoo.Build(PruningModels.Mlp with { Hidden = [16, 32] }, [64], 10);
        using var masks = new MaskSet();
        new Pruner(model, new PruneOptions(), "p").Update(model, masks, s => s);
        var bytes = masks.ToBytes();
        var misfit = Assert.Throws<InvalidInputException>(() => MaskSet.FromBytes("x.ckpt", bytes, other));
        Assert.StartsWith("x.ckpt: pruning mask head.fc1.weight [32,32] fits no parameter of the model", misfit.Message);
        var truncated = Assert.Throws<InvalidInputException>(() => MaskSet.FromBytes("x.ckpt", bytes[..^10], model));
        Assert.StartsWith("x.ckpt: pruning mask", truncated.Message);
    }
}
