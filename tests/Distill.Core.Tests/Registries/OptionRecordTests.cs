using Distill.Core;
using Distill.Core.Training;

namespace Distill.Core.Tests.Registries;

/// <summary>Core's optimiser and schedule options check their own ranges (the registry's option table), so a plan
/// built in code is refused as clearly as a recipe, before a step is taken.</summary>
public class OptionRecordTests
{
    [Fact]
    public void Optimiser_options_out_of_range_are_refused_naming_the_key()
    {
        new OptimizerOptions().Validate();
        Assert.Equal("lr must be > 0, got 0.", Assert.Throws<InvalidInputException>(() => new OptimizerOptions { LearningRate = 0 }.Validate()).Message);
        Assert.Equal("momentum must be in [0, 1), got 1.", Assert.Throws<InvalidInputException>(() => new OptimizerOptions { Momentum = 1 }.Validate()).Message);
        Assert.Equal("betas must be in [0, 1), got 1.5.", Assert.Throws<InvalidInputException>(() => new OptimizerOptions { Beta2 = 1.5 }.Validate()).Message);
    }

    [Fact]
    public void Schedule_options_out_of_range_are_refused_before_the_first_step()
    {
        new ScheduleOptions().Validate();
        var e = Assert.Throws<InvalidInputException>(() => new LearningRateSchedule(new ScheduleOptions { PctStart = 1 }, 0.1, 10, 1));
        Assert.Equal("pct_start must be in (0, 1), got 1.", e.Message);
        Assert.Equal("step_epochs must be in [1, 100000], got 0.", Assert.Throws<InvalidInputException>(() => new ScheduleOptions { StepEpochs = 0 }.Validate()).Message);
    }

    [Fact]
    public void Every_kind_has_one_registry_entry()
    {
        Assert.Equal(Enum.GetValues<OptimizerKind>(), Optimizers.Registry.Entries.Select(e => e.Kind).Order());
        Assert.Equal(Enum.GetValues<ScheduleKind>(), Schedules.Registry.Entries.Select(e => e.Kind).Order());
        Assert.Equal(Enum.GetValues<Distill.Core.Pruning.PruneMethod>(), Distill.Core.Pruning.PruningMethods.Registry.Entries.Select(e => e.Kind).Order());
        Assert.Equal(["sgd", "adam", "adamw"], Optimizers.Registry.Names);
        Assert.Equal(["constant", "step", "cosine", "one_cycle"], Schedules.Registry.Names);
        Assert.Equal(["magnitude", "channel", "n_m"], Distill.Core.Pruning.PruningMethods.Registry.Names);
    }

    [Fact]
    public void Prune_options_out_of_range_are_refused_naming_where_they_were_written()
    {
        new Distill.Core.Pruning.PruneOptions().Validate();
        var nm = Assert.Throws<InvalidInputException>(() => new Distill.Core.Pruning.PruneOptions { N = 4, M = 4, Where = "r.yaml:9:5" }.Validate());
        Assert.Equal("r.yaml:9:5: N:M needs 1 <= n < m, got 4:4.", nm.Message);
        var sparsity = Assert.Throws<InvalidInputException>(() => new Distill.Core.Pruning.PruneOptions { Sparsity = 1 }.Validate());
        Assert.Equal("prune: sparsity and initial_sparsity must be in [0, 1), got 1 and 0.", sparsity.Message);
    }

    /// <summary>The observer options' ranges are one table: the recipe once allowed 16 bins, which Core then refused
    /// (256 at least) only when the quantize stage started, without the recipe line.</summary>
    [Fact]
    public void Observer_options_check_the_registry_ranges()
    {
        Assert.Equal("bins must be in [256, 65536], got 100.",
            Assert.Throws<InvalidInputException>(() => new Distill.Core.Quantization.ObserverOptions { Bins = 100 }.Validate()).Message);
        Assert.Equal(["percentile", "momentum", "bins"], Distill.Core.Quantization.Observers.Options.Select(o => o.Key));
    }
}
