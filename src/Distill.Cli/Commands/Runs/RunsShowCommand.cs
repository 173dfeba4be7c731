using System.CommandLine;
using Distill.Cli.Output;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Commands.Runs;

public static class RunsShowCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("run") { Description = "Run id or a unique prefix of it" };
        var show = new Command("show", "Show one run: status, its parent and child runs as a tree, latest metrics, tags, params, artifacts.") { id };
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
            console.MarkupLine($"[bold]{ConsoleText.Markup(run.Name)}[/]  {run.Id}  {run.Status.ToString().ToUpperInvariant()}  experiment {ConsoleText.Markup(run.Experiment)}"
                + (run.DeletedTime is { } deleted ? $"  [red]deleted {deleted.ToLocalTime():u}[/]" : ""));
            console.WriteLine($"started {run.StartTime.ToLocalTime():u}" + (run.EndTime is { } end ? $", ended {end.ToLocalTime():u}" : ""));
            WriteTree(console, store, run);
            console.Write(KeyValues("metric", run.Metrics.ToDictionary(kv => kv.Key, kv => MetricFormat.Format(kv.Key, kv.Value))));
            console.Write(KeyValues("tag", run.Tags));
            console.Write(KeyValues("param", run.Params));
            console.WriteLine("artifacts:");
            foreach (var artifact in run.Artifacts)
                console.WriteLine("  " + artifact);
            return ExitCodes.Success;
        });
        return show;
    }

    /// <summary>The family of the run: from its top-level ancestor down, the run itself marked.</summary>
    private static void WriteTree(IAnsiConsole console, RunStore store, RunRecord run)
    {
        var top = run;
        while (top.ParentRunId is { } parentId)
            top = store.GetRun(parentId);
        var children = store.GetChildRuns(top.Id);
        if (children.Count == 0 && top.Id == run.Id)
            return;
        var tree = new Tree(Label(top, run.Id));
        AddChildren(store, tree.AddNode, top, run.Id);
        console.WriteLine("runs:");
        console.Write(tree);
    }

    private static void AddChildren(RunStore store, Func<string, TreeNode> add, RunRecord parent, string current)
    {
        foreach (var child in store.GetChildRuns(parent.Id))
        {
            var node = add(Label(child, current));
            AddChildren(store, node.AddNode, child, current);
        }
    }

    private static string Label(RunRecord run, string current)
    {
        string text = $"{ConsoleText.Markup(run.Name)}  {run.Id[..8]}  {run.Status.ToString().ToUpperInvariant()}";
        foreach (string key in new[] { "teacher/val/acc", "val/acc", "teacher/test_acc", "student/test_acc" })
        {
            if (run.Metrics.TryGetValue(key, out double value))
                text += $"  {ConsoleText.Markup(key)} {MetricFormat.Format(key, value)}";
        }
        return run.Id == current ? $"[bold]{text}[/]" : text;
    }

    private static Table KeyValues(string what, IReadOnlyDictionary<string, string> values)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumn(what).AddColumn("value");
        foreach (var (key, value) in values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            table.AddRow(ConsoleText.Markup(key), ConsoleText.Markup(value));
        return table;
    }
}
