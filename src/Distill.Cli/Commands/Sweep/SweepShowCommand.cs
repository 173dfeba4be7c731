using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Distill.Cli.Output;
using Distill.Core;
using Distill.Core.Sweeps;
using Distill.Core.Tracking;
using Microsoft.Data.Analysis;

namespace Distill.Cli.Commands.Sweep;

/// <summary>`distill sweep show`: the trials ranked by the metric (best first), with status and wall time, and a PNG of
/// the metric against each swept key. A Slurm sweep's trial stores are merged first.</summary>
public static class SweepShowCommand
{
    private static readonly Argument<string> Id = new("sweep") { Description = "The sweep's run id (or a unique prefix)" };

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "PNG file for the plot of the metric against each swept key", DefaultValueFactory = _ => "sweep.png" };
        var show = new Command("show", "Show a sweep's trials ranked by its metric, and plot the metric against each swept key.") { Id, output };
        show.SetAction(parse =>
        {
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var manifest = Find(store, parse.GetValue(Id)!);
            if (manifest.Backend == "slurm")
                new SlurmBackend(manifest, store.Directory, SweepManifest.Folder(store.Directory, manifest.SweepRunId), SweepRunner.Forwarded(parse), Console.Error).Merge(store);
            var results = SweepResults.Collect(store, manifest);
            Print(parse, manifest, results, store.Directory);
            if (results.Any(r => r.Finished && r.Metric is not null))
            {
                string path = Path.GetFullPath(parse.GetValue(output)!);
                SweepPlot.Save(manifest, results, path);
                Console.Error.WriteLine($"wrote {path}");
            }
            return ExitCodes.Success;
        });
        return show;
    }

    /// <summary>The sweep of a run id (or prefix): its description in the sweep folder; exit 2 when there is none.</summary>
    public static SweepManifest Find(RunStore store, string id)
    {
        var run = store.GetRun(id);
        string folder = SweepManifest.Folder(store.Directory, run.Id);
        if (!run.Tags.ContainsKey(SweepManifest.SweepTag) || run.ParentRunId is not null || !File.Exists(Path.Combine(folder, SweepManifest.FileName)))
            throw new InvalidInputException($"run {run.Id} ({run.Name}) is not a sweep run of {store.Directory}; `distill runs list` shows the sweeps (named <recipe>-sweep)");
        return SweepManifest.Load(folder);
    }

    public static void Print(ParseResult parse, SweepManifest manifest, IReadOnlyList<TrialResult> results, string storeDirectory)
    {
        var best = SweepResults.Best(results);
        if (parse.GetValue(GlobalOptions.Json))
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                sweep = manifest.SweepRunId,
                metric = manifest.Metric,
                mode = manifest.Mode,
                best_trial = best?.Trial.Index,
                best_run = best?.Run?.Id,
                trials = results.Select(r => new
                {
                    trial = r.Trial.Index,
                    variant = r.Trial.Name,
                    values = r.Trial.Values.ToDictionary(v => v.Key, v => v.Value),
                    status = r.Run is null ? null : LocalBackend.RunStatusName(r.Run.Status),
                    stopped_early = r.StoppedEarly,
                    run_id = r.Run?.Id,
                    metric = r.Metric,
                    wall_seconds = r.WallSeconds,
                }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        // A family's variants may each set other keys; the teacher they share is not a column.
        bool family = manifest.Family is not null;
        var keys = manifest.Trials.SelectMany(t => t.Values.Select(v => v.Key)).Distinct()
            .Where(k => manifest.Family is not { ShareTeacher: true } || k is not ("teacher.train" or "teacher.checkpoint")).ToList();
        var columns = new List<DataFrameColumn>
        {
            new StringDataFrameColumn("rank", results.Select((r, i) => r.Metric is null ? "" : (i + 1).ToString(CultureInfo.InvariantCulture))),
            new StringDataFrameColumn("trial", results.Select(r => r.Trial.Index.ToString(CultureInfo.InvariantCulture))),
        };
        if (family)
            columns.Add(new StringDataFrameColumn("variant", results.Select(r => r.Trial.Name)));
        foreach (string key in keys)
            columns.Add(new StringDataFrameColumn(key, results.Select(r => r.Trial.Values.FirstOrDefault(v => v.Key == key)?.Value ?? "")));
        columns.Add(new StringDataFrameColumn("status", results.Select(Status)));
        columns.Add(new StringDataFrameColumn(manifest.Metric, results.Select(r => r.Metric is { } m ? MetricFormat.Format(manifest.Metric, m) : null)));
        columns.Add(new StringDataFrameColumn("wall_s", results.Select(r => r.WallSeconds?.ToString("F1", CultureInfo.InvariantCulture))));
        columns.Add(new StringDataFrameColumn("run_id", results.Select(r => r.Run?.Id[..8])));
        DataFrameTable.Write(DataFrameTable.Build(new DataFrame(columns)));
        int finished = results.Count(r => r.Finished);
        int stopped = results.Count(r => r.StoppedEarly);
        string early = stopped > 0 ? $", {stopped} stopped early by ASHA" : "";
        Console.Out.WriteLine($"{(family ? "family" : "sweep")} {manifest.SweepRunId}: {finished} of {results.Count} {(family ? "variant" : "trial")}(s) finished{early} ({manifest.Metric}, {(manifest.Maximize ? "higher" : "lower")} is better)");
        if (best is { Run: { } run, Metric: { } metric })
            Console.Out.WriteLine($"best: {(family ? $"variant {best.Trial.Name}" : $"trial {best.Trial.Index}")} (run {run.Id}): {manifest.Metric} {MetricFormat.Format(manifest.Metric, metric)} with {best.Trial}");
        if (results.Any(r => !r.Done))
            Console.Out.WriteLine($"run the unfinished trials with: distill sweep resume {manifest.SweepRunId}{GlobalOptions.StoreArgument(storeDirectory)}");
    }

    private static string Status(TrialResult result) =>
        result.Run is null ? "NOT STARTED" : result.StoppedEarly ? "STOPPED (ASHA)" : LocalBackend.RunStatusName(result.Run.Status);
}
