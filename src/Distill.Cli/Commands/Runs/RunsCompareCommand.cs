using System.CommandLine;
using Distill.Cli.Output;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;
using Spectre.Console;

namespace Distill.Cli.Commands.Runs;

public static class RunsCompareCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("runs") { Description = "Two or more run ids (or unique prefixes)", Arity = ArgumentArity.OneOrMore };
        var csv = new Option<bool>("--csv") { Description = "Print one CSV table (kind, key, one column per run) instead" };
        var compare = new Command("compare", "Runs side by side: the params that differ, and every metric's final value.") { ids, csv };
        compare.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var runs = parse.GetValue(ids)!.Select(store.GetRun).ToList();
            var comparison = RunComparison.Of(runs);
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine(comparison.ToJson());
                return ExitCodes.Success;
            }
            if (parse.GetValue(csv))
            {
                comparison.WriteCsv(Console.Out);
                return ExitCodes.Success;
            }
            var console = AnsiConsole.Console;
            if (comparison.Params.Rows.Count == 0)
                console.WriteLine("params: all equal");
            else
                DataFrameTable.Write(DataFrameTable.Build(comparison.Params));
            var metrics = comparison.Metrics;
            DataFrameTable.Write(DataFrameTable.Build(metrics, (_, row, value) =>
                value is double number ? MetricFormat.Format((string)metrics.Columns["metric"][row], number) : null));
            return ExitCodes.Success;
        });
        return compare;
    }
}
