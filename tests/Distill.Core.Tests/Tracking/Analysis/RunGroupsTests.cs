using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;

namespace Distill.Core.Tests.Tracking.Analysis;

public sealed class RunGroupsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 0, 0, 0, TimeSpan.Zero);

    private static RunRecord Run(string name, int minute, Dictionary<string, double> metrics, string? seed = null) => new(
        $"{name}-{minute}", "e", name, RunStatus.Finished, T0.AddMinutes(minute), null, null,
        seed is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["seed"] = seed },
        metrics, new Dictionary<string, string>(), []);

    private static readonly RunField Name = new(RunFieldKind.Attribute, "name");

    [Fact]
    public void Groups_give_mean_sample_std_and_change_against_the_baseline()
    {
        RunRecord[] runs =
        [
            Run("kd", 5, new() { ["acc"] = 0.92 }),
            Run("scratch", 0, new() { ["acc"] = 0.90, ["wall"] = 10 }),
            Run("scratch", 1, new() { ["acc"] = 0.91, ["wall"] = 14 }),
            Run("kd", 4, new() { ["acc"] = 0.93 }),
            Run("scratch", 2, new() { ["acc"] = 0.92, ["wall"] = 12 }),
            Run("single", 9, new() { ["acc"] = 0.5 }),
        ];
        var groups = RunGroups.Summarise(runs, Name, ["acc", "wall"], baseline: "scratch");

        // Ordered by each group's earliest start: scratch (minute 0), kd (4), single (9); runs oldest first.
        Assert.Equal(["scratch", "kd", "single"], groups.Select(g => g.Key));
        Assert.Equal(["kd-4", "kd-5"], groups[1].RunIds);
        var scratch = groups[0].Metrics;
        // 0.90, 0.91, 0.92: mean 0.91, squared deviations 1e-4 + 0 + 1e-4 over n − 1 = 2 → std 0.01.
        Assert.Equal(3, scratch[0].Count);
        Assert.Equal(0.91, scratch[0].Mean, 12);
        Assert.Equal(0.01, scratch[0].Std!.Value, 12);
        Assert.Null(scratch[0].Delta);
        // Walls 10, 14, 12: mean 12, std sqrt((4 + 4) / 2) = 2.
        Assert.Equal(12, scratch[1].Mean, 12);
        Assert.Equal(2, scratch[1].Std!.Value, 12);
        // kd: mean 0.925, std sqrt(2 · 0.005² / 1) = 0.0070711; change 0.925 − 0.91 = +0.015. No wall metric → no entry.
        var kd = Assert.Single(groups[1].Metrics);
        Assert.Equal(0.925, kd.Mean, 12);
        Assert.Equal(Math.Sqrt(2 * 0.005 * 0.005), kd.Std!.Value, 12);
        Assert.Equal(0.015, kd.Delta!.Value, 12);
        // One run: no spread.
        Assert.Null(Assert.Single(groups[2].Metrics).Std);
    }

    [Fact]
    public void Runs_group_by_a_param_and_runs_without_it_are_left_out()
    {
        RunRecord[] runs = [Run("a", 0, new() { ["acc"] = 0.8 }, seed: "1"), Run("a", 1, new() { ["acc"] = 0.6 }, seed: "2"), Run("a", 2, new() { ["acc"] = 0.7 })];
        var groups = RunGroups.Summarise(runs, new RunField(RunFieldKind.Param, "seed"), ["acc"], baseline: null);
        Assert.Equal(["1", "2"], groups.Select(g => g.Key));
        Assert.All(groups, g => Assert.Null(g.Metrics[0].Delta));
    }

    [Fact]
    public void A_baseline_that_is_no_group_is_an_error_naming_the_groups()
    {
        RunRecord[] runs = [Run("kd", 1, new() { ["acc"] = 0.9 }), Run("scratch", 0, new() { ["acc"] = 0.9 })];
        var e = Assert.Throws<InvalidInputException>(() => RunGroups.Summarise(runs, Name, ["acc"], baseline: "scrach"));
        Assert.Equal("--baseline 'scrach' is not a group of attributes.name (did you mean 'scratch'?); the groups are scratch, kd", e.Message);
    }
}
