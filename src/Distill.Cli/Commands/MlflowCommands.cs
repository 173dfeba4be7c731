using System.CommandLine;
using System.Text.Json;
using Distill.Cli.Output;
using Distill.Core;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Mlflow;
using Spectre.Console;

namespace Distill.Cli.Commands;

/// <summary>`runs sync` (push runs to an MLflow server) and `runs export --mlflow-dir` (MLflow's file-store layout).</summary>
public static class MlflowCommands
{
    public static void AddTo(Command runs)
    {
        runs.Subcommands.Add(Sync());
        runs.Subcommands.Add(Export());
    }

    private static Command Sync()
    {
        var ids = new Argument<string[]>("runs") { Description = "Run ids or unique prefixes (default: every run of the store)", Arity = ArgumentArity.ZeroOrMore };
        var to = new Option<string?>("--to") { Description = "MLflow tracking server URL (default: --tracking-uri, else $MLFLOW_TRACKING_URI)" };
        var command = new Command("sync", "Send to an MLflow server what it lacks of the runs (idempotent: a second sync sends nothing).") { ids, to };
        command.SetAction(parse =>
        {
            var logger = CliLogging.Create(parse.GetValue(GlobalOptions.Verbose));
            var endpoint = parse.GetValue(to) is { } uri
                ? MlflowEndpoint.WithEnvironmentCredentials(uri, "--to")
                : TrackingServer.Resolve(parse, plan: null, logger)
                    ?? throw new InvalidInputException($"no MLflow server to sync with: give --to URL, --tracking-uri URL or set {MlflowEndpoint.UriVariable}");

            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            // A recipe run goes with its phase runs.
            var selected = store.WithDescendants(Select(store, parse.GetValue(ids) ?? []), includeDeleted: false);
            using var client = new MlflowClient(endpoint, MlflowRetryPolicy.FromEnvironment());
            using var sync = new MlflowRunSync(store.Directory, client);
            var results = new List<MlflowSyncResult>();
            // Oldest first, so that parents exist on the server before their nested runs.
            foreach (var run in selected)
            {
                if (run.Status == RunStatus.Running)
                {
                    logger.Warning("Run {RunId} is still running; its own process sends it", run.Id);
                    continue;
                }
                var result = sync.SyncAsync(run.Id, final: true, CancellationToken.None).GetAwaiter().GetResult();
                if (result.ArtifactsSkipped is { } why)
                    logger.Warning("Artifacts of run {RunId} not sent: {Reason}", run.Id, why);
                foreach (string line in result.RefusalLines())
                    logger.Warning("The server refused {Item} of run {RunId}; it is skipped there and kept in the local store", line, run.Id);
                results.Add(result);
            }
            Print(parse, results, endpoint);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Export()
    {
        var ids = new Argument<string[]>("runs") { Description = "Run ids or unique prefixes (default: every run of the store)", Arity = ArgumentArity.ZeroOrMore };
        var directory = new Option<string>("--mlflow-dir")
        {
            Description = "Folder to write in MLflow's file-store layout (an mlruns folder; created if missing)",
            Required = true,
        };
        var command = new Command("export", "Write runs in MLflow's file-store layout (mlruns/), for `mlflow server --backend-store-uri`, `mlflow migrate-filestore` or older MLflow UIs.")
        {
            ids, directory,
        };
        command.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var given = parse.GetValue(ids) ?? [];
            // Every run, deleted ones too (written as deleted); a run named goes with its child runs.
            IReadOnlyList<RunRecord> selected = given.Length == 0
                ? [.. store.ListRuns(), .. store.FindRuns(new RunSelection { Deleted = true })]
                : store.WithDescendants(Select(store, given), includeDeleted: true);
            var export = MlflowFileStore.Export(store, selected, parse.GetValue(directory)!);
            var logger = CliLogging.Create(parse.GetValue(GlobalOptions.Verbose));
            foreach (string line in export.Skipped)
                logger.Warning("{Skipped}", line);
            var written = export.Runs;
            if (parse.GetValue(GlobalOptions.Json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(written, new JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Success;
            }
            foreach (var (id, folder) in written)
                Console.Out.WriteLine($"{id}  →  {folder}");
            Console.Out.WriteLine($"{written.Count} run(s) exported to {Path.GetFullPath(parse.GetValue(directory)!)}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static List<RunRecord> Select(RunStore store, string[] ids) =>
        ids.Length == 0 ? store.ListRuns().ToList() : ids.Select(store.GetRun).DistinctBy(r => r.Id).ToList();

    private static void Print(ParseResult parse, List<MlflowSyncResult> results, MlflowEndpoint endpoint)
    {
        if (parse.GetValue(GlobalOptions.Json))
        {
            var rows = results.Select(r => new Dictionary<string, object?>
            {
                ["run_id"] = r.RunId,
                ["remote_run_id"] = r.RemoteRunId,
                ["experiment_id"] = r.ExperimentId,
                ["created"] = r.Created,
                ["metrics"] = r.Metrics,
                ["params"] = r.Params,
                ["tags"] = r.Tags,
                ["artifacts"] = r.Artifacts,
                ["status"] = r.Status,
                ["refused"] = r.Refused.Select(x => new Dictionary<string, string> { ["kind"] = x.Kind, ["key"] = x.Key, ["reason"] = x.Reason }),
            });
            Console.Out.WriteLine(JsonSerializer.Serialize(new { server = endpoint.Key, runs = rows }, new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("run").AddColumn("mlflow run").AddColumn(new TableColumn("metrics").RightAligned())
            .AddColumn(new TableColumn("params").RightAligned()).AddColumn(new TableColumn("tags").RightAligned())
            .AddColumn(new TableColumn("artifacts").RightAligned()).AddColumn("status sent");
        foreach (var r in results)
        {
            table.AddRow(r.RunId[..8], (r.Created ? "new " : "") + r.RemoteRunId, r.Metrics.ToString(), r.Params.ToString(), r.Tags.ToString(),
                r.Artifacts.ToString(), r.Status ?? "-");
        }
        AnsiConsole.Console.Write(table);
        int changed = results.Count(r => !r.SentNothing);
        Console.Out.WriteLine($"{results.Count} run(s) checked against {endpoint}, {changed} updated");
    }
}
