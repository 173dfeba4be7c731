using System.CommandLine;
using System.Globalization;
using Distill.Cli.Output;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;
using Microsoft.Data.Analysis;

namespace Distill.Cli.Commands.Runs;

public static class RunsSummaryCommand
{
    public static Command Create()
    {
        var by = new Option<string>("--by") { Description = "Group runs by this field (" + RunField.Help + ")", DefaultValueFactory = _ => "attributes.name" };
        var metrics = new Option<string>("--metrics")
        {
            Description = "Comma-separated metric keys to summarise",
            DefaultValueFactory = _ => "student/test_acc,student/wall_seconds",
        };
        var baseline = new Option<string?>("--baseline") { Description = "The group the other groups' means are compared with (e.g. the scratch recipe's run name)" };
        var summary = new Command("summary", "Group repeated runs (e.g. one recipe over several seeds) and give each metric's mean ± std per group, and its change against a baseline group.")
        {
            by, metrics, baseline, RunsListCommand.Experiment, RunsListCommand.Filter,
        };
        summary.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var field = RunField.Parse(parse.GetValue(by)!, "--by");
            var keys = parse.GetValue(metrics)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (keys.Length == 0)
                throw new Core.InvalidInputException("--metrics: name at least one metric key");
            var runs = RunsListCommand.Query(store, new RunQuery
            {
                Selection = new RunSelection { Experiment = parse.GetValue(RunsListCommand.Experiment), IncludeChildren = false },
                Filter = parse.GetValue(RunsListCommand.Filter),
            }).Runs;
            var groups = RunGroups.Summarise(runs, field, keys, parse.GetValue(baseline));
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(groups.Select(g => new
                {
                    group = g.Key,
                    runs = g.RunIds,
                    metrics = g.Metrics.ToDictionary(m => m.Metric, m => new { count = m.Count, mean = m.Mean, std = m.Std, delta = m.Delta }),
                }), new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Success;
            }
            DataFrameTable.Write(DataFrameTable.Build(Table(groups, field, keys, parse.GetValue(baseline) is not null)));
            Console.Out.WriteLine($"{groups.Count} group(s) of {groups.Sum(g => g.RunIds.Count)} run(s) in {store.Directory}");
            return ExitCodes.Success;
        });
        return summary;
    }

    /// <summary>One row per group: the key, the number of runs, then per metric "mean ± std" and, with a baseline, its change.</summary>
    private static DataFrame Table(IReadOnlyList<RunGroup> groups, RunField by, IReadOnlyList<string> keys, bool deltas)
    {
        var columns = new List<DataFrameColumn>
        {
            new StringDataFrameColumn(by.Kind == RunFieldKind.Attribute ? by.Key : by.ColumnName, groups.Select(g => g.Key)),
            new StringDataFrameColumn("runs", groups.Select(g => g.RunIds.Count.ToString(CultureInfo.InvariantCulture))),
        };
        foreach (string key in keys)
        {
            var spreads = groups.Select(g => g.Metrics.FirstOrDefault(m => m.Metric == key)).ToList();
            columns.Add(new StringDataFrameColumn(key, spreads.Select(s => s is null ? null : MeanAndStd(key, s))));
            if (deltas)
                columns.Add(new StringDataFrameColumn("Δ " + key, spreads.Select(s => s?.Delta is { } d ? Change(key, d) : null)));
        }
        return new DataFrame(columns);
    }

    private static string MeanAndStd(string key, MetricSpread spread)
    {
        string mean = MetricFormat.Format(key, spread.Mean);
        if (spread.Std is not { } std)
            return mean;
        return MetricFormat.IsFraction(key)
            ? $"{mean} ± {(std * 100).ToString("F2", CultureInfo.InvariantCulture)}"
            : $"{mean} ± {MetricFormat.Number(std)}";
    }

    /// <summary>A change of a fraction in percentage points ("+0.62 pt"), else as a signed number.</summary>
    private static string Change(string key, double delta) => MetricFormat.IsFraction(key)
        ? (delta * 100).ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture) + " pt"
        : (delta >= 0 ? "+" : "") + MetricFormat.Number(delta);
}
