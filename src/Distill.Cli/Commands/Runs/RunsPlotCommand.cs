using System.CommandLine;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;

namespace Distill.Cli.Commands.Runs;

public static class RunsPlotCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("runs") { Description = "Run ids (or unique prefixes)", Arity = ArgumentArity.OneOrMore };
        var metric = new Option<string[]>("--metric") { Description = "Metric to plot over steps (repeat for one panel each), e.g. train/loss", Required = true };
        var output = new Option<string>("--out") { Description = "PNG file to write", DefaultValueFactory = _ => "curves.png" };
        var plot = new Command("plot", "Plot metric curves over steps, one line per run, to a PNG.") { ids, metric, output };
        plot.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var runs = parse.GetValue(ids)!.Select(store.GetRun).DistinctBy(r => r.Id).ToList();
            string path = Path.GetFullPath(parse.GetValue(output)!);
            CurvePlot.SaveRunMetrics(store, runs, parse.GetValue(metric)!, path);
            Console.Out.WriteLine($"wrote {path}");
            return ExitCodes.Success;
        });
        return plot;
    }
}
