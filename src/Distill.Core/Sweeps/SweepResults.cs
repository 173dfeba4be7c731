using Distill.Core.Tracking;

namespace Distill.Core.Sweeps;

/// <summary>A trial and its run in the store (its latest attempt), if it has one yet.</summary>
public sealed record TrialResult(SweepTrial Trial, RunRecord? Run, double? Metric)
{
    public bool Finished => Run?.Status == RunStatus.Finished;

    /// <summary>ASHA stopped it (its run is KILLED, with the reason as a tag): done, not to be run again.</summary>
    public bool StoppedEarly => Run?.Status == RunStatus.Killed && Run.Tags.ContainsKey(EarlyStopSettings.Tag);

    /// <summary>Finished, or stopped early by ASHA: nothing left to run.</summary>
    public bool Done => Finished || StoppedEarly;

    /// <summary>Seconds from the run's start to its end; null while it runs or before it started.</summary>
    public double? WallSeconds => Run is { EndTime: { } end } run ? (end - run.StartTime).TotalSeconds : null;
}

/// <summary>The trials of a sweep with their runs, best first.</summary>
public static class SweepResults
{
    /// <summary>Every trial of <paramref name="manifest"/> with its run: the sweep run's child tagged with its index
    /// (the newest, when a trial was started again); ordered by the metric, best first, trials without it last
    /// (by index).</summary>
    public static IReadOnlyList<TrialResult> Collect(RunStore store, SweepManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(manifest);
        var runsByTrial = store.GetChildRuns(manifest.SweepRunId)
            .Where(r => r.Tags.ContainsKey(SweepManifest.TrialTag))
            .GroupBy(r => r.Tags[SweepManifest.TrialTag])
            .ToDictionary(g => g.Key, g => g.MaxBy(r => r.StartTime)!);
        var results = manifest.Trials.Select(trial =>
        {
            var run = runsByTrial.GetValueOrDefault(trial.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            double? metric = run is not null && run.Metrics.TryGetValue(manifest.Metric, out double value) && double.IsFinite(value) ? value : null;
            return new TrialResult(trial, run, metric);
        });
        return results
            .OrderBy(r => r.Metric is null ? 1 : 0)
            .ThenBy(r => r.Metric is { } m ? (manifest.Maximize ? -m : m) : 0)
            .ThenBy(r => r.Trial.Index)
            .ToList();
    }

    /// <summary>The best finished trial, or null when none finished with the metric.</summary>
    public static TrialResult? Best(IReadOnlyList<TrialResult> ranked) => ranked.FirstOrDefault(r => r.Finished && r.Metric is not null);
}
