using ScottPlot;

namespace Distill.Core.Tracking.Analysis;

/// <summary>One line of a curve plot: a label and its points (non-finite values are left out).</summary>
public sealed record CurveSeries(string Label, IReadOnlyList<MetricPoint> Points);

/// <summary>One panel of a curve plot: a title, the y-axis label and its lines.</summary>
public sealed record CurvePanel(string Title, string YLabel, IReadOnlyList<CurveSeries> Series);

/// <summary>Metric curves as a PNG: one panel per metric, one line per run, value over step.</summary>
public static class CurvePlot
{
    /// <summary>Lines with at most this many points also get a marker per point.</summary>
    private const int MarkerLimit = 60;

    /// <summary>Longer lines are drawn as signal plots (sorted x, decimated per pixel column).</summary>
    private const int SignalLimit = 5000;

    public static void Save(IReadOnlyList<CurvePanel> panels, string xLabel, string path)
    {
        ArgumentNullException.ThrowIfNull(panels);
        var plots = new List<Plot>();
        try
        {
            foreach (var panel in panels)
            {
                var plot = PlotImage.Panel(panel.Title, xLabel, panel.YLabel);
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
                foreach (var series in panel.Series)
                {
                    var points = series.Points.Where(p => double.IsFinite(p.Value)).ToList();
                    var xs = points.Select(p => (double)p.Step).ToArray();
                    var ys = points.Select(p => p.Value).ToArray();
                    if (points.Count > SignalLimit)
                    {
                        // Steps come sorted; a signal plot draws one column of pixels per x instead of every segment.
                        var signal = plot.Add.SignalXY(xs, ys);
                        signal.LegendText = series.Label;
                        signal.LineWidth = 1.5f;
                        continue;
                    }
                    var line = plot.Add.Scatter(xs, ys);
                    line.LegendText = series.Label;
                    line.LineWidth = 1.5f;
                    line.MarkerSize = points.Count <= MarkerLimit ? 6 : 0;
                }
                plots.Add(plot);
            }
            PlotImage.SavePng(plots, path);
        }
        finally
        {
            foreach (var plot in plots)
                plot.Dispose();
        }
    }

    /// <summary>
    /// Plots each metric of each run (one panel per metric). Every run must have every metric:
    /// an unknown metric is an InvalidInputException naming it and the run's metrics.
    /// </summary>
    public static void SaveRunMetrics(RunStore store, IReadOnlyList<RunRecord> runs, IReadOnlyList<string> metrics, string path)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (runs.Count == 0)
            throw new InvalidInputException("plot needs at least one run");
        if (metrics.Count == 0)
            throw new InvalidInputException("plot needs at least one --metric");
        foreach (string metric in metrics)
        {
            foreach (var run in runs)
            {
                if (!run.Metrics.ContainsKey(metric))
                    throw new InvalidInputException(
                        $"run {run.Id[..8]} ({run.Name}) has no metric '{metric}'; its metrics: " +
                        (run.Metrics.Count == 0 ? "none" : string.Join(", ", run.Metrics.Keys.Order(StringComparer.Ordinal))));
            }
        }
        var panels = metrics.Select(metric => new CurvePanel(metric, metric,
            runs.Select(run => new CurveSeries(RunLabel(run), store.GetMetricHistory(run.Id, metric))).ToList())).ToList();
        Save(panels, "step", path);
    }

    public static string RunLabel(RunRecord run) => $"{run.Name} {run.Id[..8]}";
}
