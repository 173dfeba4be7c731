using Distill.Cli.Output;
using Distill.Core.Tracking;

namespace Distill.Cli.Tests;

/// <summary>The energy of training and of exports in `distill train`'s summary, and the watts per core refused when it
/// is not a positive number (exit 2, at the recipe's line or naming the option).</summary>
public sealed class EnergyCliTests
{
    private static RunRecord Run(Dictionary<string, double> metrics, Dictionary<string, string> tags, Dictionary<string, string> parameters) =>
        new("r1", "default", "n", RunStatus.Finished, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, null, parameters, metrics, tags, []);

    [Fact]
    public void The_energy_line_names_the_method_the_phases_in_recipe_order_and_each_exports_figure()
    {
        var run = Run(
            new()
            {
                ["energy/train_joules"] = 1234.5,
                ["energy/teacher/train_joules"] = 400,
                ["energy/qat/train_joules"] = 34.5,
                ["energy/distil/train_joules"] = 800,
                ["export/x86-vnni/energy_mj_per_inference"] = 0.0663,
                ["export/arm-cortex-a/size_bytes"] = 100,
            },
            new() { ["energy_method"] = "estimated:cpu-time", ["energy_watts_per_core"] = "10", ["export/x86-vnni/energy_method"] = "estimated:cpu-time" },
            new() { ["teacher.train.name"] = "teacher", ["stages.0.name"] = "distil", ["stages.1.name"] = "qat" });
        Assert.Equal("energy: training 1,234 J (estimated:cpu-time at 10 W per core; teacher 400 J, distil 800 J, qat 34.5 J); " +
            "x86-vnni 0.0663 mJ per inference (estimated:cpu-time)", SummaryTable.EnergyLine(run));

        var measured = Run(new() { ["energy/train_joules"] = 52_000, ["energy/only/train_joules"] = 52_000 },
            new() { ["energy_method"] = "measured:rapl" }, new() { ["stages.0.name"] = "only" });
        Assert.Equal("energy: training 52.0 kJ (measured:rapl)", SummaryTable.EnergyLine(measured));
        Assert.Null(SummaryTable.EnergyLine(Run([], [], [])));
    }

    [Fact]
    public void Train_prints_the_training_energy_under_the_table_with_its_method()
    {
        using var dir = new TempDir();
        var recipe = Path.Combine(CliProcess.RepoRoot, "configs", "digits", "kd.yaml");
        var result = CliProcess.Run(["train", recipe, "--store", dir.File("store"), "--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=1",
            "--set", "energy.watts_per_core=25"], TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"energy: training [0-9.,]+ k?J \(estimated:cpu-time at 25 W per core; teacher [0-9.,]+ k?J, distil [0-9.,]+ k?J\)", result.StdOut);
    }

    [Fact]
    public void A_watts_per_core_that_is_not_positive_is_exit_2()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("recipe.yaml"), File.ReadAllText(Path.Combine(CliProcess.RepoRoot, "configs", "digits", "kd.yaml"))
            .Replace("../../data/", Path.Combine(CliProcess.RepoRoot, "data") + "/", StringComparison.Ordinal)
            .Replace("seed: 7\n", "seed: 7\nenergy: { watts_per_core: -1 }\n", StringComparison.Ordinal));
        var train = CliProcess.Run("train", dir.File("recipe.yaml"), "--store", dir.File("store"));
        Assert.True(train.ExitCode == 2, train.ToString());
        Assert.Contains(dir.File("recipe.yaml") + ":6:27: energy.watts_per_core: must be in (0, 1000], got -1", train.StdErr);

        var export = CliProcess.Run("export", "nothing", "--target", "x86-vnni", "--watts-per-core", "0", "--store", dir.File("store"));
        Assert.True(export.ExitCode == 2, export.ToString());
        Assert.Contains("--watts-per-core must be a positive number, got 0", export.StdErr);
    }
}
