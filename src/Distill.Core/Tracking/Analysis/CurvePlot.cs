using ScottPlot;

namespace Distill.Core.Tracking.Analysis;

/// <summary>One line of a curve plot: a label and its points (non-finite values are left out).</summary>
public sealed record CurveSeries(string Label, IReadOnlyList<MetricPoint> Points);

/// <summary>Where a phase of a run (a child run: the teacher's training or a stage) starts on a curve's x axis:
/// half a step before its first point, so that the line falls between two phases.</summary>
public sealed record PhaseStart(string Name, double X);

/// <summary>One panel of a curve plot: a title, the axis labels, its lines and the phase starts marked on it.</summary>
public sealed record CurvePanel(string Title, string XLabel, string YLabel, IReadOnlyList<CurveSeries> Series, IReadOnlyList<PhaseStart> Phases);

/// <summary>Metric curves as a PNG: one panel per metric, one line per run, value over epoch or step.</summary>
public static class CurvePlot
{
    /// <summary>Lines with at most this many points also get a marker per point.</summary>
    private const int MarkerLimit = 60;

    /// <summary>Longer lines are drawn as signal plots (sorted x, decimated per pixel column).</summary>
    private const int SignalLimit = 5000;

    public static void Save(IReadOnlyList<CurvePanel> panels, string path)
    {
        ArgumentNullException.ThrowIfNull(panels);
        var plots = new List<Plot>();
        try
        {
            foreach (var panel in panels)
            {
                var plot = PlotImage.Panel(panel.Title, panel.XLabel, panel.YLabel);
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
                PlotImage.PercentTicks(plot.Axes.Left, panel.YLabel);
                if (panel.Phases.Count > 0)
                    plot.Axes.Top.MinimumSize = 28; // room for the phase names between the title and the curves
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
                KeepConstantReadable(plot, panel.Series);
                foreach (var phase in panel.Phases)
                {
                    var start = plot.Add.VerticalLine(phase.X, width: 1, color: Colors.Gray, pattern: LinePattern.Dashed);
                    start.LabelText = phase.Name;
                    start.LabelOppositeAxis = true;
                    start.LabelFontSize = 11;
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

    /// <summary>A constant curve (a fixed learning rate) would get the axis ScottPlot gives a zero span, -1 to 1 around
    /// it, whose tick labels round its value away: give it ±10 % of its value instead.</summary>
    private static void KeepConstantReadable(Plot plot, IReadOnlyList<CurveSeries> series)
    {
        var values = series.SelectMany(s => s.Points).Select(p => p.Value).Where(double.IsFinite).Distinct().ToList();
        if (values.Count == 1 && values[0] != 0)
        {
            double span = Math.Abs(values[0]) * 0.1;
            plot.Axes.SetLimitsY(values[0] - span, values[0] + span);
        }
    }

    /// <summary>
    /// Plots each metric of each run (one panel per metric, over epochs or steps as the metric is logged), with the
    /// start of each phase of the runs marked. Every run must have every metric: an unknown metric is an
    /// InvalidInputException naming it and the run's metrics.
    /// </summary>
    public static void SaveRunMetrics(RunStore store, IReadOnlyList<RunRecord> runs, IReadOnlyList<string> metrics, string path) =>
        Save(RunPanels(store, runs, metrics), path);

    /// <summary>The panels <see cref="SaveRunMetrics"/> draws.</summary>
    public static IReadOnlyList<CurvePanel> RunPanels(RunStore store, IReadOnlyList<RunRecord> runs, IReadOnlyList<string> metrics)
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
        return metrics.Select(metric => new CurvePanel(metric, MetricSteps.Axis(metric), metric,
            runs.Select(run => new CurveSeries(RunLabel(run), store.GetMetricHistory(run.Id, metric))).ToList(),
            runs.SelectMany(run => PhaseStarts(store, run.Id, metric)).Distinct().ToList())).ToList();
    }

    /// <summary>Where each phase (child run) of the run that logged <paramref name="metric"/> starts, in phase order.</summary>
    public static IReadOnlyList<PhaseStart> PhaseStarts(RunStore store, string runId, string metric)
    {
        ArgumentNullException.ThrowIfNull(store);
        var starts = new List<PhaseStart>();
        foreach (var phase in store.GetChildRuns(runId))
        {
            var history = store.GetMetricHistory(phase.Id, metric);
            if (history.Count > 0)
                starts.Add(new PhaseStart(phase.Name, history.Min(p => p.Step) - 0.5));
        }
        return starts;
    }

    public static string RunLabel(RunRecord run) => $"{run.Name} {run.Id[..8]}";
}
