using System.CommandLine;
using System.Globalization;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Commands;

public static class RunsCommand
{
    public static Command Create()
    {
        var runs = new Command("runs", "List and inspect tracked runs.");

        var experiment = new Option<string?>("--experiment") { Description = "Only runs of this experiment" };
        var limit = new Option<int>("--limit") { Description = "At most this many runs, newest first", DefaultValueFactory = _ => 50 };
        var list = new Command("list", "List runs, newest first.") { experiment, limit };
        list.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var found = store.ListRuns(parse.GetValue(experiment)).Take(Math.Max(0, parse.GetValue(limit))).ToList();
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine("[" + string.Join(",\n", found.Select(RunJson.Serialize)) + "]");
                return ExitCodes.Success;
            }
            var table = new Table().Border(TableBorder.Simple)
                .AddColumn("id").AddColumn("name").AddColumn("experiment").AddColumn("status").AddColumn("started")
                .AddColumn(new TableColumn("teacher acc").RightAligned()).AddColumn(new TableColumn("student acc").RightAligned());
            foreach (var run in found)
            {
                table.AddRow(run.Id[..8], Markup.Escape(run.Name), Markup.Escape(run.Experiment), run.Status.ToString().ToUpperInvariant(),
                    run.StartTime.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    Percent(run, "teacher/test_acc"), Percent(run, "student/test_acc"));
            }
            AnsiConsole.Console.Write(table);
            Console.Out.WriteLine($"{found.Count} run(s) in {store.Directory}");
            return ExitCodes.Success;
        });

        var id = new Argument<string>("run") { Description = "Run id or a unique prefix of it" };
        var show = new Command("show", "Show one run: status, params, latest metrics, tags, artifacts.") { id };
        show.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var run = store.GetRun(parse.GetValue(id)!);
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine(RunJson.Serialize(run));
                return ExitCodes.Success;
            }
            var console = AnsiConsole.Console;
            console.MarkupLine($"[bold]{Markup.Escape(run.Name)}[/]  {run.Id}  {run.Status.ToString().ToUpperInvariant()}  experiment {Markup.Escape(run.Experiment)}");
            console.WriteLine($"started {run.StartTime.ToLocalTime():u}" + (run.EndTime is { } end ? $", ended {end.ToLocalTime():u}" : ""));
            console.Write(KeyValues("metric", run.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value.ToString("G6", CultureInfo.InvariantCulture))));
            console.Write(KeyValues("tag", run.Tags));
            console.Write(KeyValues("param", run.Params));
            console.WriteLine("artifacts:");
            foreach (var artifact in run.Artifacts)
                console.WriteLine("  " + artifact);
            return ExitCodes.Success;
        });

        runs.Subcommands.Add(list);
        runs.Subcommands.Add(show);
        MlflowCommands.AddTo(runs);
        return runs;
    }

    private static Table KeyValues(string what, IReadOnlyDictionary<string, string> values)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumn(what).AddColumn("value");
        foreach (var (key, value) in values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            table.AddRow(Markup.Escape(key), Markup.Escape(value));
        return table;
    }

    private static string Percent(RunRecord run, string key) =>
        run.Metrics.TryGetValue(key, out var v) ? v.ToString("P2", CultureInfo.InvariantCulture) : "-";
}
