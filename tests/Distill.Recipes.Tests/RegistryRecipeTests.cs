using Distill.Core;
using Distill.Core.Pruning;
using Distill.Core.Training;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>The recipe schema and binder read the registries (optimisers, schedules, pruning methods): every
/// registered name binds to its own kind, and the keys, ranges and defaults are the registry's.
/// <see cref="Recipes.Minimal"/>'s stage mapping starts at 8:5, so appended lines are 9, 10, ….</summary>
public class RegistryRecipeTests
{
    [Fact]
    public void Every_registered_optimiser_and_schedule_binds_to_its_kind()
    {
        foreach (var entry in Optimizers.Registry.Entries)
            Assert.Equal(entry.Kind, Load(Minimal + $"\n    optimizer: {{ name: {entry.Name} }}").Stages[0].Optimizer.Kind);
        foreach (var entry in Schedules.Registry.Entries)
            Assert.Equal(entry.Kind, Load(Minimal + $"\n    schedule: {{ name: {entry.Name} }}").Stages[0].Schedule.Kind);
    }

    [Fact]
    public void Every_registered_pruning_method_binds_to_its_kind_and_owns_its_keys()
    {
        foreach (var entry in PruningMethods.Registry.Entries)
        {
            string sparsity = entry.Options.Contains("sparsity") ? "\n      sparsity: 0.5" : "";
            var prune = Load(Minimal + $"\n    epochs: 2\n    prune:\n      method: {entry.Name}{sparsity}").Stages[0].Prune!;
            Assert.Equal(entry.Kind, prune.Method);
        }
        // n and m belong to n_m alone: with magnitude, "      n: " (9 characters) puts the key at 12:7.
        AssertAt(Single(Minimal + "\n    epochs: 2\n    prune:\n      sparsity: 0.5\n      n: 2"), 12, 7,
            "stages[0].prune.n: only allowed when stages[0].prune.method is n_m");
        Assert.Equal(["magnitude", "channel"], PruningMethods.Reading("sparsity"));
    }

    /// <summary>The stage's defaults are the option records' own (one table): a stage that names nothing gets
    /// exactly <c>new OptimizerOptions()</c> and <c>new ScheduleOptions()</c>.</summary>
    [Fact]
    public void Defaults_come_from_the_option_records()
    {
        var stage = Load(Minimal).Stages[0];
        Assert.Equal(new OptimizerOptions(), stage.Optimizer);
        Assert.Equal(new ScheduleOptions(), stage.Schedule);
    }

    [Fact]
    public void A_misspelt_optimiser_is_refused_with_the_closest_name()
    {
        // "    optimizer: { name: " is 23 characters: the value starts at column 24 of line 9.
        AssertAt(Single(Minimal + "\n    optimizer: { name: adamm }"), 9, 24,
            "stages[0].optimizer.name: must be one of sgd | adam | adamw, got 'adamm' (did you mean 'adam'?)");
        AssertAt(Single(Minimal + "\n    schedule: { name: onecycle }"), 9, 23,
            "stages[0].schedule.name: must be one of constant | step | cosine | one_cycle, got 'onecycle' (did you mean 'one_cycle'?)");
    }
}
