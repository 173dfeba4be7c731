using Microsoft.Data.Analysis;
using ScottPlot;

namespace Distill.Core.Tracking.Analysis;

/// <summary>Which way is better on each axis; by default a smaller x (size, latency) and a larger y (accuracy).</summary>
public sealed record ParetoGoal(bool MaximizeX = false, bool MinimizeY = false);

/// <param name="Label">"&lt;run name&gt;/&lt;match&gt;" (the segments the wildcards matched), or the run name when the patterns have
/// no wildcard; followed by the run's short id when runs of the same name give the same label.</param>
public sealed record ParetoPoint(string Label, string RunId, string XKey, string YKey, double X, double Y, bool OnFrontier);

/// <summary>
/// Every point of the chosen runs (one per match of the x pattern whose y key the run also has),
/// and the frontier: the points that no other point dominates. <see cref="Table"/> has columns
/// label, run_id, x_key, y_key, x, y, frontier; <see cref="Frontier"/> holds the frontier rows ordered by x.
/// </summary>
public sealed record ParetoResult(KeyPattern X, KeyPattern Y, ParetoGoal Goal, IReadOnlyList<ParetoPoint> Points, DataFrame Table, DataFrame Frontier);

/// <summary>One label of the Pareto plot: the labels of every point at (X, Y), one per line.</summary>
public sealed record ParetoPlotLabel(double X, double Y, string Text, bool OnFrontier);

public static class Pareto
{
    public static ParetoResult Analyze(IReadOnlyList<RunRecord> runs, string xPattern, string yPattern, ParetoGoal goal)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var x = new KeyPattern(xPattern);
        var y = new KeyPattern(yPattern);
        if (x.Wildcards != y.Wildcards)
            throw new InvalidInputException($"--x '{x}' and --y '{y}' must have the same number of '*' ({x.Wildcards} ≠ {y.Wildcards}), so that each x key has its y key");

        var raw = new List<(string Label, string RunId, string XKey, string YKey, double X, double Y)>();
        foreach (var run in runs)
        {
            foreach (var (xKey, xValue) in run.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                if (x.Match(xKey) is not { } captures)
                    continue;
                string yKey = y.Fill(captures);
                if (!run.Metrics.TryGetValue(yKey, out double yValue) || !double.IsFinite(xValue) || !double.IsFinite(yValue))
                    continue;
                string label = captures.Count == 0 ? run.Name : $"{run.Name}/{string.Join("/", captures)}";
                raw.Add((label, run.Id, xKey, yKey, xValue, yValue));
            }
        }
        if (raw.Count == 0)
        {
            var keys = runs.SelectMany(r => r.Metrics.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
            throw new InvalidInputException(
                $"no run has a metric matching --x '{x}' with its --y '{y}' counterpart; metrics of the chosen runs: " +
                (keys.Count == 0 ? "none" : string.Join(", ", keys)));
        }

        // Runs often share a name: tell their points apart by the run's short id.
        var duplicated = raw.GroupBy(p => p.Label).Where(g => g.Select(p => p.RunId).Distinct().Count() > 1).Select(g => g.Key).ToHashSet();
        raw = raw.Select(p => duplicated.Contains(p.Label) ? p with { Label = $"{p.Label} {p.RunId[..8]}" } : p).ToList();

        var frontier = FrontierIndices(raw.Select(p => (p.X, p.Y)).ToList(), goal);
        var points = raw.Select((p, i) => new ParetoPoint(p.Label, p.RunId, p.XKey, p.YKey, p.X, p.Y, frontier.Contains(i))).ToList();
        var table = ToFrame(points);
        var frontierRows = points.Select((p, i) => (p, i)).Where(t => t.p.OnFrontier).OrderBy(t => t.p.X).ThenBy(t => t.p.Y).Select(t => (long)t.i).ToArray();
        return new ParetoResult(x, y, goal, points, table, FrameRows.Take(table, frontierRows));
    }

    /// <summary>
    /// The indices of the points on the frontier: those that no other point dominates. A dominates B when A is
    /// at least as good on both axes and strictly better on one. Of points with exactly the same x and y only
    /// the first is on the frontier: the others add nothing to it.
    /// </summary>
    public static HashSet<int> FrontierIndices(IReadOnlyList<(double X, double Y)> points, ParetoGoal goal)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(goal);
        // Orient both axes so that larger is better.
        var oriented = points.Select(p => (X: goal.MaximizeX ? p.X : -p.X, Y: goal.MinimizeY ? -p.Y : p.Y)).ToList();
        var frontier = new HashSet<int>();
        for (int i = 0; i < oriented.Count; i++)
        {
            bool dominated = false;
            for (int j = 0; j < oriented.Count && !dominated; j++)
            {
                var a = oriented[j];
                var b = oriented[i];
                dominated = j != i && a.X >= b.X && a.Y >= b.Y && (a.X > b.X || a.Y > b.Y || j < i);
            }
            if (!dominated)
                frontier.Add(i);
        }
        return frontier;
    }

    /// <summary>The points as a scatter plot, the frontier highlighted and joined. Every point is labelled (dominated ones
    /// in grey); points at the same place get one label listing them all, so that labels do not print over each other.</summary>
    public static void SavePlot(ParetoResult result, string path)
    {
        ArgumentNullException.ThrowIfNull(result);
        string xDirection = result.Goal.MaximizeX ? "higher is better" : "lower is better";
        string yDirection = result.Goal.MinimizeY ? "lower is better" : "higher is better";
        using var plot = PlotImage.Panel($"Pareto frontier: {result.Y} against {result.X}",
            $"{result.X} ({xDirection})", $"{result.Y} ({yDirection})");

        plot.Axes.Margins(horizontal: 0.2, vertical: 0.15);
        PlotImage.PercentTicks(plot.Axes.Bottom, result.X.ToString());
        PlotImage.PercentTicks(plot.Axes.Left, result.Y.ToString());

        var others = result.Points.Where(p => !p.OnFrontier).ToList();
        if (others.Count > 0)
        {
            var dominated = plot.Add.ScatterPoints(others.Select(p => p.X).ToArray(), others.Select(p => p.Y).ToArray(), Colors.Gray);
            dominated.MarkerSize = 8;
            dominated.LegendText = "off the frontier";
        }
        var front = result.Points.Where(p => p.OnFrontier).OrderBy(p => p.X).ThenBy(p => p.Y).ToList();
        var line = plot.Add.Scatter(front.Select(p => p.X).ToArray(), front.Select(p => p.Y).ToArray(), Colors.OrangeRed);
        line.MarkerSize = 10;
        line.LineWidth = 2;
        line.LegendText = "frontier";
        AddLabels(plot, result);
        PlotImage.SavePng([plot], path);
    }

    /// <summary>Labels beside their points, laid out in pixels so that they do not overlap: the axes are laid out
    /// once to find where each point lands, then kept. Frontier labels are placed first.</summary>
    private static void AddLabels(Plot plot, ParetoResult result)
    {
        plot.RenderInMemory(PlotImage.Width, PlotImage.PanelHeight);
        plot.Axes.SetLimits(plot.Axes.GetLimits());
        var area = plot.RenderManager.LastRender.DataRect;
        var labels = PlotLabels(result).OrderByDescending(l => l.OnFrontier).ToList();
        double middleX = (result.Points.Min(p => p.X) + result.Points.Max(p => p.X)) / 2;
        double middleY = (result.Points.Min(p => p.Y) + result.Points.Max(p => p.Y)) / 2;
        using var paint = Paint.NewDisposablePaint();
        var requests = labels.Select(label =>
        {
            var pixel = plot.GetPixel(new Coordinates(label.X, label.Y));
            var size = new LabelStyle { Text = label.Text, FontSize = FontSize(label) }.Measure(paint);
            // Labels point inwards so that those near an edge are not cut off.
            return new LabelRequest(pixel.X, pixel.Y, size.Width, size.Height, PreferLeft: label.X > middleX, PreferBelow: label.Y > middleY);
        }).ToList();
        var boxes = LabelLayout.Place(requests, new LabelBox(area.Left, area.Top, area.Width, area.Height), gap: 6);
        for (int i = 0; i < labels.Count; i++)
        {
            var text = plot.Add.Text(labels[i].Text, plot.GetCoordinates(new Pixel(boxes[i].Left, boxes[i].Top)));
            text.LabelFontSize = FontSize(labels[i]);
            text.LabelFontColor = labels[i].OnFrontier ? Colors.Black : Colors.DimGray;
            text.LabelAlignment = Alignment.UpperLeft;
        }
    }

    private static float FontSize(ParetoPlotLabel label) => label.OnFrontier ? 12 : 11;

    /// <summary>One label per place: every point is labelled, and points with the same x and y share one label.</summary>
    public static IReadOnlyList<ParetoPlotLabel> PlotLabels(ParetoResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.Points.GroupBy(p => (p.X, p.Y))
            .Select(place => new ParetoPlotLabel(place.Key.X, place.Key.Y, string.Join("\n", place.Select(p => p.Label)), place.Any(p => p.OnFrontier)))
            .ToList();
    }

    private static DataFrame ToFrame(IReadOnlyList<ParetoPoint> points) => new(
    [
        new StringDataFrameColumn("label", points.Select(p => p.Label)),
        new StringDataFrameColumn("run_id", points.Select(p => p.RunId)),
        new StringDataFrameColumn("x_key", points.Select(p => p.XKey)),
        new StringDataFrameColumn("y_key", points.Select(p => p.YKey)),
        new DoubleDataFrameColumn("x", points.Select(p => p.X)),
        new DoubleDataFrameColumn("y", points.Select(p => p.Y)),
        new BooleanDataFrameColumn("frontier", points.Select(p => p.OnFrontier)),
    ]);
}
