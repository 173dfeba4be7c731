namespace Distill.Core.Tracking.Analysis;

/// <summary>
/// The loss and accuracy curves of a training run (train/loss and val/acc per epoch, teacher and
/// student) as a PNG artifact. The points are read from the store: from the run and its child
/// runs (one per phase, ended, so flushed), the last point of each epoch winning. The start of each of the
/// student's phases (stages) is marked with a line labelled with the stage's name.
/// </summary>
public static class TrainingCurves
{
    public const string Artifact = "plots/curves.png";

    private static readonly (string Title, string Metric)[] Panels = [("training loss", "train/loss"), ("validation accuracy", "val/acc")];

    /// <summary>Writes the plot; false (nothing written) when the run has no epoch metrics.</summary>
    public static bool Write(RunStore store, string runId, string path)
    {
        ArgumentNullException.ThrowIfNull(store);
        var run = store.GetRun(runId);
        var sources = new List<RunRecord> { run };
        sources.AddRange(store.GetChildRuns(run.Id));

        var panels = new List<CurvePanel>();
        foreach (var (title, metric) in Panels)
        {
            var series = new List<CurveSeries>();
            foreach (var (role, key) in new[] { ("teacher", "teacher/" + metric), ("student", metric) })
            {
                var byEpoch = new SortedDictionary<long, MetricPoint>();
                foreach (var source in sources)
                {
                    foreach (var point in store.GetMetricHistory(source.Id, key))
                        byEpoch[point.Step] = point;
                }
                if (byEpoch.Count > 0)
                    series.Add(new CurveSeries(role, byEpoch.Values.ToList()));
            }
            if (series.Count > 0)
                panels.Add(new CurvePanel($"{run.Name} {run.Id[..8]}: {title}", MetricSteps.Axis(metric), metric, series, CurvePlot.PhaseStarts(store, run.Id, metric)));
        }
        if (panels.Count == 0)
            return false;
        CurvePlot.Save(panels, path);
        return true;
    }
}
