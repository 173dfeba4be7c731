using System.CommandLine;
using Distill.Cli.Output;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Commands.Runs;

public static class RunsArtifactsCommands
{
    public static Command List()
    {
        var id = new Argument<string>("run") { Description = "Run id or a unique prefix of it" };
        var artifacts = new Command("artifacts", "List a run's artifacts with their sizes.") { id };
        artifacts.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var run = store.GetRun(parse.GetValue(id)!);
            var found = store.ListArtifacts(run.Id);
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(
                    found.Select(a => new { path = a.Path, size = a.Size, missing = a.Missing, logged_time = a.LoggedTime.UtcDateTime }),
                    new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Success;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumn("path").AddColumn(new TableColumn("size").RightAligned());
            foreach (var artifact in found)
                table.AddRow(ConsoleText.Markup(artifact.Path), artifact.Missing ? "missing" : SummaryTable.Bytes(artifact.Size));
            AnsiConsole.Console.Write(table);
            Console.Out.WriteLine($"{found.Count} artifact(s) of run {run.Id} in {Path.Combine(store.Directory, "artifacts", run.Id)}");
            return ExitCodes.Success;
        });
        return artifacts;
    }

    public static Command Download()
    {
        var id = new Argument<string>("run") { Description = "Run id or a unique prefix of it" };
        var path = new Argument<string>("path") { Description = "Artifact path (a file, or a folder such as models)" };
        var output = new Option<string>("--out") { Description = "Folder to copy into (the artifact path is kept below it)", DefaultValueFactory = _ => "." };
        var download = new Command("download", "Copy an artifact (or a folder of them) out of the store.") { id, path, output };
        download.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            foreach (string file in ArtifactDownload.Download(store, parse.GetValue(id)!, parse.GetValue(path)!, parse.GetValue(output)!))
                Console.Out.WriteLine($"wrote {file}");
            return ExitCodes.Success;
        });
        return download;
    }
}
