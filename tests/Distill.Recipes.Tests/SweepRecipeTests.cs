using Distill.Core.Sweeps;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>The sweep: section and the check of a sweep's trials against the recipe.</summary>
public sealed class SweepRecipeTests
{
    private static readonly string WithSweep = Minimal.Replace("stages:", """
        sweep:
          grid: { "stages[0].loss.kd.temperature": [2, 4], "student.model.hidden": ["[16]", "[32, 16]"] }
          random: { "stages[0].optimizer.lr": "loguniform(1e-4, 1e-2)" }
          trials: 3
          seed: 9
          mode: min
          metric: student/test_loss
          slurm: { cpus_per_task: 2, mem: 4G, time: "00:30:00", partition: short }
        stages:
        """, StringComparison.Ordinal);

    [Fact]
    public void The_sweep_section_binds_to_the_search_space_and_its_settings()
    {
        var sweep = Load(WithSweep).Sweep!;

        Assert.Equal(["stages[0].loss.kd.temperature", "student.model.hidden"], sweep.Grid.Select(a => a.Key));
        Assert.Equal(["2", "4"], sweep.Grid[0].Values);
        Assert.Equal(["[16]", "[32, 16]"], sweep.Grid[1].Values);
        Assert.Equal(new LogUniform(1e-4, 1e-2), sweep.Random.Single().Distribution);
        Assert.Equal((3, 9, "min", "student/test_loss", 1), (sweep.Trials, sweep.Seed, sweep.Mode, sweep.Metric, sweep.Parallel));
        Assert.Equal(new SlurmOptions { CpusPerTask = 2, Memory = "4G", Time = "00:30:00", Partition = "short" }, sweep.Slurm);
        Assert.Null(Load(Minimal).Sweep);
    }

    [Fact]
    public void A_bad_distribution_in_the_sweep_section_is_an_error_at_its_value()
    {
        string yaml = WithSweep.Replace("loguniform(1e-4, 1e-2)", "loguniform(0, 1e-2)", StringComparison.Ordinal);
        int line = yaml.Split('\n').ToList().FindIndex(l => l.Contains("loguniform", StringComparison.Ordinal)) + 1;

        var error = Single(yaml);

        Assert.Equal(line, error.Line);
        Assert.Contains("sweep.random.stages[0].optimizer.lr: loguniform(a,b) needs 0 < a", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trial_the_recipe_refuses_names_the_sweep_option_or_section_key_that_gave_it()
    {
        string folder = Directory.CreateTempSubdirectory("distill-sweep-").FullName;
        try
        {
            string recipe = Path.Combine(folder, "recipe.yaml");
            File.WriteAllText(recipe, Minimal.Replace("fashion-mnist/", DataDir + "/fashion-mnist/", StringComparison.Ordinal));
            var trials = new SearchSpace([new GridAxis("seed", ["1"]), new GridAxis("stages[0].epocs", ["2"])], []).Expand();

            var fromCommandLine = Assert.Throws<RecipeException>(() => SweepSpace.Check(recipe, trials, new HashSet<string> { "seed", "stages[0].epocs" }, new HashSet<string>()));
            var fromSection = Assert.Throws<RecipeException>(() => SweepSpace.Check(recipe, trials, new HashSet<string> { "seed", "stages[0].epocs" }, new HashSet<string> { "seed", "stages[0].epocs" }));

            Assert.Equal("--grid stages[0].epocs: stages[0]: unknown key 'epocs' (did you mean 'epochs'?); allowed keys: name, epochs, batch_size, optimizer, schedule, loss, clip_grad_norm, early_stop, cache_teacher, prune, quantize (value '2')",
                Assert.Single(fromCommandLine.Errors).ToString());
            Assert.StartsWith("sweep.grid.stages[0].epocs of the recipe: stages[0]: unknown key 'epocs'", Assert.Single(fromSection.Errors).ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("seed=1,2,3", new[] { "1", "2", "3" })]
    [InlineData("student.model.hidden=[8,16],[32]", new[] { "[8,16]", "[32]" })]
    public void Grid_arguments_split_into_values(string argument, string[] values) =>
        Assert.Equal(values, SweepSpace.ParseGrid(argument).Values);

    [Theory]
    [InlineData("seed", "--grid: expected key=values")]
    [InlineData("seed=", "--grid seed: the value list is empty")]
    [InlineData("seed=1,,2", "an empty value between commas")]
    public void Bad_grid_arguments_say_what_is_wrong(string argument, string message) =>
        Assert.Contains(message, Assert.Throws<Core.InvalidInputException>(() => SweepSpace.ParseGrid(argument)).Message, StringComparison.Ordinal);
}
