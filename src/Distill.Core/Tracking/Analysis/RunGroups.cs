namespace Distill.Core.Tracking.Analysis;

/// <summary>One metric over the runs of a group that have it: how many, their mean, their sample standard
/// deviation (n − 1 in the denominator; null for fewer than two runs) and the mean minus the baseline group's
/// mean (null for the baseline itself, without a baseline, or when the baseline lacks the metric).</summary>
public sealed record MetricSpread(string Metric, int Count, double Mean, double? Std, double? Delta);

/// <summary>Runs that share a value of the grouping field (e.g. the seeds of one method, all named alike).</summary>
public sealed record RunGroup(string Key, IReadOnlyList<string> RunIds, IReadOnlyList<MetricSpread> Metrics);

/// <summary>Summarises repeated runs: groups them by a field and gives each metric's mean ± std per group, so a
/// method table over seeds is one command.</summary>
public static class RunGroups
{
    /// <param name="runs">The runs, in any order; a run without the grouping field is left out.</param>
    /// <param name="by">The grouping field, e.g. attributes.name or params.stages.0.loss.kd.alpha.</param>
    /// <param name="metrics">Metric keys to summarise; a group lacking one gets no entry for it.</param>
    /// <param name="baseline">The key of the group the deltas are measured from; null for none.</param>
    /// <returns>The groups in the order of their earliest run's start.</returns>
    /// <exception cref="InvalidInputException">The baseline names no group: the message lists the groups.</exception>
    public static IReadOnlyList<RunGroup> Summarise(IReadOnlyList<RunRecord> runs, RunField by, IReadOnlyList<string> metrics, string? baseline)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(by);
        ArgumentNullException.ThrowIfNull(metrics);
        var frame = RunFrame.Build(runs, [by]);
        var column = frame.Columns[RunFrame.ColumnOf(by)];
        var members = new Dictionary<string, List<RunRecord>>(StringComparer.Ordinal);
        for (int i = 0; i < runs.Count; i++)
        {
            if (column[i] is not { } value)
                continue;
            string key = value is double number ? MetricFormat.Number(number) : (string)value;
            if (!members.TryGetValue(key, out var list))
                members[key] = list = [];
            list.Add(runs[i]);
        }
        var ordered = members.OrderBy(g => g.Value.Min(r => r.StartTime)).ToList();
        if (baseline is not null && !members.ContainsKey(baseline))
        {
            var keys = ordered.Select(g => g.Key).ToList();
            throw new InvalidInputException(
                $"--baseline '{PrintableText.Escape(baseline)}' is not a group of {by}{Suggest.DidYouMean(baseline, keys)}; the groups are {string.Join(", ", keys)}");
        }
        var baselineMeans = baseline is null ? new Dictionary<string, double>()
            : metrics.Select(m => Spread(m, members[baseline])).OfType<MetricSpread>().ToDictionary(s => s.Metric, s => s.Mean);
        return
        [
            .. ordered.Select(g => new RunGroup(
                g.Key,
                [.. g.Value.OrderBy(r => r.StartTime).Select(r => r.Id)],
                [
                    .. metrics.Select(m => Spread(m, g.Value)).OfType<MetricSpread>().Select(s =>
                        g.Key != baseline && baselineMeans.TryGetValue(s.Metric, out double reference) ? s with { Delta = s.Mean - reference } : s),
                ])),
        ];
    }

    private static MetricSpread? Spread(string metric, List<RunRecord> runs)
    {
        var values = runs.Where(r => r.Metrics.ContainsKey(metric)).Select(r => r.Metrics[metric]).ToList();
        if (values.Count == 0)
            return null;
        double mean = values.Average();
        double? std = values.Count < 2 ? null : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return new MetricSpread(metric, values.Count, mean, std, null);
    }
}
