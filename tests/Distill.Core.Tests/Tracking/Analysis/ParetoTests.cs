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
        // (4, 0.9) twice: only the first is on the frontier.
        Assert.Equal([0, 1, 4, 7], Pareto.FrontierIndices(points, new ParetoGoal()).Order());
        // Larger x and smaller y better: (5, 0.8) dominates both (4, 0.9), and (3, 0.7) dominates (2, 0.7).
        Assert.Equal([0, 2, 3, 5, 7], Pareto.FrontierIndices(points, new ParetoGoal(MaximizeX: true, MinimizeY: true)).Order());
    }

    [Fact]
    public void Of_exact_duplicates_only_the_first_is_on_the_frontier()
    {
        // Three runs of one recipe train the same teacher: the same size and accuracy three times.
        (double, double)[] same = [(50_826, 0.9721), (50_826, 0.9721), (50_826, 0.9721)];
        Assert.Equal([0], Pareto.FrontierIndices(same, new ParetoGoal()));
        // A duplicate of a dominated point stays off the frontier; a tie on one axis only is not a duplicate.
        (double, double)[] points = [(2, 0.5), (1, 0.9), (2, 0.5), (1, 0.9), (0.5, 0.9), (3, 0.95)];
        Assert.Equal([4, 5], Pareto.FrontierIndices(points, new ParetoGoal()).Order());
        (double, double)[] tiedOnX = [(1, 0.8), (1, 0.9)];
        Assert.Equal([1], Pareto.FrontierIndices(tiedOnX, new ParetoGoal()));
    }

    [Fact]
    public void Every_point_is_labelled_and_points_at_one_place_share_a_label()
    {
        var a = Run("a", new() { ["teacher/params"] = 50_000, ["teacher/test_acc"] = 0.97, ["student/params"] = 2_000, ["student/test_acc"] = 0.90 });
        var b = Run("b", new() { ["teacher/params"] = 50_000, ["teacher/test_acc"] = 0.97, ["student/params"] = 3_000, ["student/test_acc"] = 0.85 });
        var result = Pareto.Analyze([a, b], "*/params", "*/test_acc", new ParetoGoal());

        var labels = Pareto.PlotLabels(result);
        Assert.Equal(3, labels.Count);
        Assert.Contains(new ParetoPlotLabel(50_000, 0.97, "a/teacher\nb/teacher", OnFrontier: true), labels);
        Assert.Contains(new ParetoPlotLabel(2_000, 0.90, "a/student", OnFrontier: true), labels);
        Assert.Contains(new ParetoPlotLabel(3_000, 0.85, "b/student", OnFrontier: false), labels); // dominated, labelled too
        Assert.Equal(["a/student", "a/teacher"], result.Points.Where(p => p.OnFrontier).Select(p => p.Label));
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
