using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Pruning;

public class PruningHookTests
{
    private const long StepsPerEpoch = 10;

    /// <summary>round(0.8 · 3392) of the mlp's 64·32 + 32·32 + 32·10 = 3392 weights are pruned.</summary>
    private const double Pruned = 2714.0 / 3392;

    private static readonly PruneOptions PruneHalfWayThroughTheFirstEpoch = new()
    {
        Sparsity = 0.8,
        StartEpoch = 0.5,
        KeepFirstLastDense = false,
    };

    /// <summary>Runs optimiser steps on real digits, calling the hook where the stage trainer does.</summary>
    private static void Train(ZooModel model, optim.Optimizer optimizer, IStepHook? hook, long from, long to, Action? afterStep = null)
    {
        var (x, y) = PruningModels.Batch(256, image: false);
        for (long step = from; step < to; step++)
        {
            using var scope = NewDisposeScope();
            var context = new StepContext((int)(step / StepsPerEpoch), step, step, StepsPerEpoch, to);
            hook?.BeforeStep(context);
            optimizer.zero_grad();
            nn.functional.cross_entropy(model.call(x), y).backward();
            hook?.BeforeOptimizerStep(context);
            optimizer.step();
            hook?.AfterOptimizerStep(context);
            afterStep?.Invoke();
        }
    }

    private static Tensor PrunedPositions(ZooModel model, MaskSet masks, string name) =>
        masks.Get(name)!.eq(0);

    [Fact]
    public void MaskedWeightsStayZeroThroughAdamWStepsAndALaterStage()
    {
        manual_seed(21);
        using var model = ModelZoo.Build(PruningModels.Mlp, [64], 10);
        using var masks = new MaskSet();
        var hook = new PruningHook(model, masks, PruneHalfWayThroughTheFirstEpoch, "prune", StepsPerEpoch, epochs: 2);
        using var optimizer = optim.AdamW(model.parameters(), 0.01, weight_decay: 0.01);

        Train(model, optimizer, hook, 0, 5);
        Assert.True(masks.IsEmpty, "nothing is pruned before the start step");
        Train(model, optimizer, hook, 5, 20, afterStep: () =>
            Assert.Equal(Pruned, SparsityReport.Sparsity(model, masks)!.Value, 12));
        Assert.Equal(["head.fc0.weight", "head.fc1.weight", "head.out.weight"], masks.Targets.ToArray());

        // A later stage without a prune section: a new optimiser, the hook only keeps the masks in force.
        using var zeros = PrunedPositions(model, masks, "head.fc0.weight");
        var keep = new PruningHook(model, masks, null, "finetune", StepsPerEpoch, epochs: 1);
        using var finetune = optim.Adam(model.parameters(), 0.01);
        Train(model, finetune, keep, 0, 10);
        var weight = PruningModels.Parameter(model, "head.fc0.weight");
        Assert.Equal(0, weight.masked_select(zeros).count_nonzero().item<long>());
        Assert.Equal(Pruned, SparsityReport.Sparsity(model, masks)!.Value, 12);
        Assert.Equal(Pruned, keep.EpochEnd(new EpochContext(0, 1))[SparsityReport.SparsityMetric], 12);
    }

    [Fact]
    public void GradientsOfPrunedWeightsAreZeroBeforeTheOptimiserStep()
    {
        manual_seed(22);
        using var model = ModelZoo.Build(PruningModels.Mlp, [64], 10);
        using var masks = new MaskSet();
        var hook = new PruningHook(model, masks, PruneHalfWayThroughTheFirstEpoch with { StartEpoch = 0 }, "prune", StepsPerEpoch, 1);
        var (x, y) = PruningModels.Batch(64, image: false);
        var context = new StepContext(0, 0, 0, StepsPerEpoch, StepsPerEpoch);
        hook.BeforeStep(context);
        nn.functional.cross_entropy(model.call(x), y).backward();
        var weight = PruningModels.Parameter(model, "head.fc0.weight");
        using var pruned = PrunedPositions(model, masks, "head.fc0.weight");
        Assert.True(weight.grad!.masked_select(pruned).count_nonzero().item<long>() > 0, "backward gives pruned weights a gradient");
        hook.BeforeOptimizerStep(context);
        Assert.Equal(0, weight.grad!.masked_select(pruned).count_nonzero().item<long>());
    }

    [Fact]
    public void WithoutTheHookAdamMomentumMovesPrunedWeightsAgain()
    {
        // The control for the test above: Adam's moments from before the pruning step would revive the
        // pruned weights if the masks were not re-applied after every step.
        manual_seed(23);
        using var model = ModelZoo.Build(PruningModels.Mlp, [64], 10);
        using var masks = new MaskSet();
        var hook = new PruningHook(model, masks, PruneHalfWayThroughTheFirstEpoch, "prune", StepsPerEpoch, 1);
        using var optimizer = optim.Adam(model.parameters(), 0.01);
        Train(model, optimizer, hook, 0, 6);
        Assert.Equal(Pruned, SparsityReport.Sparsity(model, masks)!.Value, 12);
        Train(model, optimizer, null, 6, 7);
        Assert.True(SparsityReport.Sparsity(model, masks)!.Value < 0.5);
    }
}
