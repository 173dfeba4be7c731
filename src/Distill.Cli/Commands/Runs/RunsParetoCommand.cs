using System.CommandLine;
using Distill.Cli.Output;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;
using Spectre.Console;

namespace Distill.Cli.Commands.Runs;

public static class RunsParetoCommand
{
    public static Command Create()
    {
        var x = new Option<string>("--x") { Description = "Metric key pattern on the x axis; '*' matches one key segment, e.g. export/*/size_bytes", Required = true };
        var y = new Option<string>("--y") { Description = "Metric key pattern on the y axis, with the same wildcards, e.g. export/*/test_acc", Required = true };
        var ids = new Option<string[]>("--runs") { Description = "Runs to include (default: every top-level run, or those --experiment/--filter select)", AllowMultipleArgumentsPerToken = true };
        var maximizeX = new Option<bool>("--maximize-x") { Description = "Larger x is better (default: smaller, as for size or latency)" };
        var minimizeY = new Option<bool>("--minimize-y") { Description = "Smaller y is better (default: larger, as for accuracy)" };
        var output = new Option<string>("--out") { Description = "PNG file to write", DefaultValueFactory = _ => "pareto.png" };
        var pareto = new Command("pareto", "Plot y against x for every matching metric pair of the runs, mark the Pareto frontier, and print it.")
        {
            x, y, ids, RunsListCommand.Experiment, RunsListCommand.Filter, maximizeX, minimizeY, output,
        };
        pareto.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var chosen = parse.GetValue(ids) is { Length: > 0 } given
                ? given.Select(store.GetRun).DistinctBy(r => r.Id).ToList()
                : RunsListCommand.Query(store, new RunQuery
                {
                    Selection = new RunSelection { Experiment = parse.GetValue(RunsListCommand.Experiment), IncludeChildren = false },
                    Filter = parse.GetValue(RunsListCommand.Filter),
                }).Runs;
            var result = Pareto.Analyze(chosen, parse.GetValue(x)!, parse.GetValue(y)!,
                new ParetoGoal(parse.GetValue(maximizeX), parse.GetValue(minimizeY)));
            string path = Path.GetFullPath(parse.GetValue(output)!);
            Pareto.SavePlot(result, path);
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    plot = path,
                    points = result.Points.Select(p => new { label = p.Label, run_id = p.RunId, x_key = p.XKey, y_key = p.YKey, x = p.X, y = p.Y, frontier = p.OnFrontier }),
                }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Success;
            }
            var frontier = result.Frontier.Clone();
            frontier.Columns.Remove("frontier");
            DataFrameTable.Write(DataFrameTable.Build(frontier, (column, row, value) => (column, value) switch
            {
                ("run_id", string id) => id[..8],
                ("x" or "y", double number) => MetricFormat.Format((string)frontier.Columns[column + "_key"][row], number),
                _ => null,
            }));
            Console.Out.WriteLine($"{result.Frontier.Rows.Count} of {result.Points.Count} point(s) on the frontier; wrote {path}");
            return ExitCodes.Success;
        });
        return pareto;
    }
}
