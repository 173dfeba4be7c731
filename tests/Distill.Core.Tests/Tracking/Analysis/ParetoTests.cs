using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;

namespace Distill.Core.Tests.Tracking.Analysis;

public sealed class ParetoTests
{
    private static RunRecord Run(string name, Dictionary<string, double> metrics) => new(
        Guid.NewGuid().ToString("N"), "e", name, RunStatus.Finished, DateTimeOffset.UtcNow, null, null,
        new Dictionary<string, string>(), metrics, new Dictionary<string, string>(), []);

    [Fact]
    public void Frontier_is_exactly_the_non_dominated_points()
    {
        (double, double)[] points = [(1, 0.5), (2, 0.7), (2, 0.6), (3, 0.7), (4, 0.9), (5, 0.8), (4, 0.9), (0.5, 0.4)];
        Assert.Equal([0, 1, 4, 6, 7], Pareto.FrontierIndices(points, new ParetoGoal()).Order());
        // Larger x and smaller y better: (5, 0.8) dominates both (4, 0.9), and (3, 0.7) dominates (2, 0.7).
        Assert.Equal([0, 2, 3, 5, 7], Pareto.FrontierIndices(points, new ParetoGoal(MaximizeX: true, MinimizeY: true)).Order());
    }

    [Fact]
    public void Wildcards_match_one_segment_and_pair_x_with_y()
    {
        var big = Run("big", new() { ["teacher/params"] = 50_000, ["teacher/test_acc"] = 0.97, ["student/params"] = 2_000, ["student/test_acc"] = 0.90, ["a/b/params"] = 1 });
        var mid = Run("mid", new() { ["student/params"] = 5_000, ["student/test_acc"] = 0.89, ["teacher/params"] = 60_000 });
        var result = Pareto.Analyze([big, mid], "*/params", "*/test_acc", new ParetoGoal());

        Assert.Equal(["big/student", "big/teacher", "mid/student"], result.Points.Select(p => p.Label));
        Assert.Equal(["big/student", "big/teacher"], result.Points.Where(p => p.OnFrontier).Select(p => p.Label));
        Assert.Equal(["big/student", "big/teacher"], result.Frontier.Columns["label"].Cast<string>());
        Assert.Equal([2_000.0, 50_000.0], result.Frontier.Columns["x"].Cast<double>());
        Assert.Equal(3, result.Table.Rows.Count);

        Assert.Contains("same number of '*'", Assert.Throws<InvalidInputException>(() => Pareto.Analyze([big], "*/params", "test_acc", new ParetoGoal())).Message);
        Assert.Contains("no run has a metric matching", Assert.Throws<InvalidInputException>(() => Pareto.Analyze([big], "export/*/size_bytes", "export/*/test_acc", new ParetoGoal())).Message);
        Assert.Equal(["student"], new KeyPattern("export/*/size_bytes").Match("export/student/size_bytes"));
        Assert.Null(new KeyPattern("export/*/size_bytes").Match("export/a/b/size_bytes"));
    }

    [Fact]
    public void Pareto_plot_is_a_png()
    {
        var run = Run("r", new() { ["a/x"] = 1, ["a/y"] = 0.5, ["b/x"] = 2, ["b/y"] = 0.9, ["c/x"] = 3, ["c/y"] = 0.7 });
        var result = Pareto.Analyze([run], "*/x", "*/y", new ParetoGoal());
        string path = Path.Combine(Path.GetTempPath(), $"distill-pareto-{Guid.NewGuid():N}.png");
        try
        {
            Pareto.SavePlot(result, path);
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
            Assert.True(bytes.Length > 10_000, $"{bytes.Length} bytes");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
