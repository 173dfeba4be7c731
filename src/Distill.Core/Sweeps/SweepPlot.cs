using System.Globalization;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;

namespace Distill.Core.Sweeps;

/// <summary>The metric of a sweep's finished trials against each swept key, one panel per key (a family's: against its
/// variants), as a PNG.</summary>
public static class SweepPlot
{
    public static void Save(SweepManifest manifest, IReadOnlyList<TrialResult> results, string path)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(results);
        var scored = results.Where(r => r.Finished && r.Metric is not null).ToList();
        if (scored.Count == 0)
            throw new InvalidInputException($"no trial of sweep {manifest.SweepRunId} has finished with {manifest.Metric} yet: nothing to plot");
        var axes = manifest.Family is not null
            ? [("variant", (Func<TrialResult, string>)(r => r.Trial.Name ?? r.Trial.Index.ToString(CultureInfo.InvariantCulture)))]
            : manifest.Space.Grid.Select(a => a.Key).Concat(manifest.Space.Random.Select(a => a.Key))
                .Select(key => (key, (Func<TrialResult, string>)(r => r.Trial.Values.First(v => v.Key == key).Value))).ToList();
        string better = manifest.Maximize ? "higher is better" : "lower is better";
        var panels = new List<ScottPlot.Plot>();
        try
        {
            foreach (var (key, valueOf) in axes)
                panels.Add(Panel(key, valueOf, manifest.Metric, better, scored));
            PlotImage.SavePng(panels, path);
        }
        finally
        {
            foreach (var panel in panels)
                panel.Dispose();
        }
    }

    /// <summary>Numeric values on a numeric axis; otherwise each distinct value at its own position, labelled with it.</summary>
    private static ScottPlot.Plot Panel(string key, Func<TrialResult, string> valueOf, string metric, string better, IReadOnlyList<TrialResult> scored)
    {
        var plot = PlotImage.Panel($"{metric} against {key}", key, $"{metric} ({better})");
        plot.Axes.Margins(horizontal: 0.1, vertical: 0.15);
        PlotImage.PercentTicks(plot.Axes.Left, metric);
        var values = scored.Select(valueOf).ToList();
        var ys = scored.Select(r => r.Metric!.Value).ToArray();
        double[] xs;
        if (values.All(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
        {
            xs = values.Select(v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
        }
        else
        {
            var distinct = values.Distinct().ToList();
            xs = values.Select(v => (double)distinct.IndexOf(v)).ToArray();
            plot.Axes.Bottom.SetTicks(Enumerable.Range(0, distinct.Count).Select(i => (double)i).ToArray(), distinct.ToArray());
        }
        var points = plot.Add.ScatterPoints(xs, ys, ScottPlot.Colors.SteelBlue);
        points.MarkerSize = 9;
        points.LegendText = $"finished trials ({scored.Count})";
        return plot;
    }
}
