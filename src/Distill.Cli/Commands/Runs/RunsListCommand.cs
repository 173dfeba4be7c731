using System.CommandLine;
using Distill.Cli.Output;
using Distill.Core;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;
using Spectre.Console;

namespace Distill.Cli.Commands.Runs;

public static class RunsListCommand
{
    /// <summary>Shown besides the fields the filter and the sort use, each when a listed run has it: the test accuracy
    /// of classifiers, the validation bits per byte and perplexity of language models.</summary>
    private static readonly RunField[] DefaultColumns =
    [
        .. new[] { "teacher/test_acc", "student/test_acc", "teacher/val_bpb", "student/val_bpb", "teacher/perplexity", "student/perplexity" }
            .Select(key => new RunField(RunFieldKind.Metric, key)),
    ];

    public static readonly Option<string?> Experiment = new("--experiment") { Description = "Only runs of this experiment" };

    public static readonly Option<string?> Filter = new("--filter")
    {
        Description = "Only runs matching e.g. \"metrics.student/test_acc > 0.9 and params.student.model.arch = 'mlp'\" " +
            "(fields metrics.*, params.*, tags.*, attributes.status|name|experiment|start_time|id; = != > >= < <= like; and, or, parentheses)",
    };

    public static Command Create()
    {
        var sort = new Option<string?>("--sort") { Description = "Order by fields, '-' for descending, e.g. -metrics.student/test_acc,attributes.name (default: newest first)" };
        var limit = new Option<int>("--limit") { Description = "At most this many runs", DefaultValueFactory = _ => 50 };
        var all = new Option<bool>("--all") { Description = "Include child runs (the phases of recipe runs)" };
        var deleted = new Option<bool>("--deleted") { Description = "List deleted runs instead" };
        var list = new Command("list", "List runs, newest first, filtered and sorted.") { Experiment, Filter, sort, limit, all, deleted };
        list.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var result = Query(store, new RunQuery
            {
                Selection = new RunSelection { Experiment = parse.GetValue(Experiment), IncludeChildren = parse.GetValue(all), Deleted = parse.GetValue(deleted) },
                Filter = parse.GetValue(Filter),
                Sort = parse.GetValue(sort),
                Limit = parse.GetValue(limit),
                OptionalColumns = DefaultColumns,
            });
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine("[" + string.Join(",\n", result.Runs.Select(RunJson.Serialize)) + "]");
                return ExitCodes.Success;
            }
            var table = result.Table;
            table.Columns.Remove("experiment");
            foreach (var column in table.Columns)
                column.SetName(column.Name.StartsWith("metrics.", StringComparison.Ordinal) ? column.Name["metrics.".Length..] : column.Name);
            DataFrameTable.Write(DataFrameTable.Build(table, FormatCell));
            Console.Out.WriteLine($"{result.Runs.Count} run(s) in {store.Directory}");
            return ExitCodes.Success;
        });
        return list;
    }

    /// <summary>Runs a query, reporting an unknown --experiment and a filter syntax error against --filter.</summary>
    public static RunQueryResult Query(RunStore store, RunQuery query)
    {
        if (query.Selection.Experiment is { } experiment)
            store.RequireExperiment(experiment);
        try
        {
            return RunQueryExecutor.Execute(store, query);
        }
        catch (FilterSyntaxException e)
        {
            throw new InvalidInputException($"--filter: {e.Message}", e);
        }
    }

    private static string? FormatCell(string column, object? value) => (column, value) switch
    {
        ("id", string id) => id[..8],
        ("start_time", string time) => DateTimeOffset.Parse(time, System.Globalization.CultureInfo.InvariantCulture)
            .ToLocalTime().ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture),
        (_, double fraction) when MetricFormat.IsFraction(column) => MetricFormat.Percent(fraction),
        _ => null,
    };
}
