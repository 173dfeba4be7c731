using System.CommandLine;
using Distill.Core;
using Distill.Core.Sweeps;
using Distill.Core.Tracking;

namespace Distill.Cli.Commands.Sweep;

/// <summary>Runs trials of a sweep on its backend and ends the sweep run: FINISHED when every trial finished, FAILED
/// naming those that did not, KILLED when interrupted. A Slurm sweep without --wait ends it once the job is submitted.</summary>
internal static class SweepRunner
{
    /// <summary>Tag of the sweep run: the id of its best trial's run.</summary>
    public const string BestRunTag = "distill.sweep.best_run";

    public static int Run(ParseResult parse, RunStore store, ITracker sweepRun, SweepManifest manifest, IReadOnlyList<SweepTrial> trials, bool wait)
    {
        if (Execute(parse, store, sweepRun, manifest, trials, wait) is not { } ran)
            return ExitCodes.Success;
        return Finish(parse, store, sweepRun, ran);
    }

    /// <summary>Runs <paramref name="trials"/> on the sweep's backend; an exception or an interruption ends the sweep run
    /// FAILED or KILLED. Returns the manifest as it is now, or null when a Slurm job was submitted without --wait (the
    /// sweep run then ended FINISHED).</summary>
    public static SweepManifest? Execute(ParseResult parse, RunStore store, ITracker sweepRun, SweepManifest manifest, IReadOnlyList<SweepTrial> trials, bool wait)
    {
        string folder = SweepManifest.Folder(store.Directory, manifest.SweepRunId);
        using var cancel = DistillCli.CancelOnSignals();
        var forwarded = Forwarded(parse);
        try
        {
            if (manifest.Backend == "local")
            {
                int threads = parse.GetValue(GlobalOptions.Threads) ?? Math.Max(1, Environment.ProcessorCount / manifest.Parallel);
                new LocalBackend(manifest, store.Directory, folder, forwarded, Console.Error).Run(trials, manifest.Parallel, threads, cancel.Token);
            }
            else
            {
                var slurm = new SlurmBackend(manifest, store.Directory, folder, forwarded, Console.Error);
                string job = slurm.Submit(trials, manifest.Parallel);
                manifest = manifest with { SlurmJobs = [.. manifest.SlurmJobs, job] };
                manifest.Save(folder);
                sweepRun.LogArtifact(Path.Combine(folder, SweepManifest.FileName));
                sweepRun.SetTag("distill.sweep.slurm_jobs", string.Join(",", manifest.SlurmJobs));
                if (!wait)
                {
                    sweepRun.End(RunStatus.Finished);
                    Console.Out.WriteLine($"sweep {manifest.SweepRunId}: Slurm job {job} submitted; see the trials with: distill sweep show {manifest.SweepRunId}{GlobalOptions.StoreArgument(store.Directory)}");
                    return null;
                }
                slurm.Wait(job, cancel.Token);
                slurm.Merge(store);
            }
            return manifest;
        }
        catch (OperationCanceledException)
        {
            sweepRun.End(RunStatus.Killed, "interrupted by the user (Ctrl-C or SIGTERM)");
            throw;
        }
        catch (Exception e)
        {
            sweepRun.End(RunStatus.Failed, e.Message);
            throw;
        }
    }

    /// <summary>Ends the sweep run from its trials' runs: FINISHED when every trial is done, else FAILED naming the others;
    /// tags the best trial and prints the ranking. Returns the exit code.</summary>
    public static int Finish(ParseResult parse, RunStore store, ITracker sweepRun, SweepManifest manifest)
    {
        var results = SweepResults.Collect(store, manifest);
        if (SweepResults.Best(results) is { Run: { } bestRun, Metric: { } bestMetric })
        {
            sweepRun.SetTag(BestRunTag, bestRun.Id);
            sweepRun.LogMetric(manifest.Metric, bestMetric, 0);
        }
        var unfinished = results.Where(r => !r.Done).OrderBy(r => r.Trial.Index).ToList();
        if (unfinished.Count == 0)
            sweepRun.End(RunStatus.Finished);
        else
            sweepRun.End(RunStatus.Failed, $"{unfinished.Count} of {results.Count} trial(s) did not finish: " +
                string.Join(", ", unfinished.Select(r => $"{r.Trial.Index} ({(r.Run is null ? "no run" : LocalBackend.RunStatusName(r.Run.Status))})")) +
                $"; run them again with: distill sweep resume {manifest.SweepRunId}{GlobalOptions.StoreArgument(store.Directory)}");
        SweepShowCommand.Print(parse, manifest, results, store.Directory);
        return unfinished.Count == 0 ? ExitCodes.Success : ExitCodes.RunFailed;
    }

    /// <summary>The MLflow server given on the command line goes to every trial (a recipe's tracking.uri and
    /// $MLFLOW_TRACKING_URI reach them by themselves).</summary>
    public static IReadOnlyList<string> Forwarded(ParseResult parse) =>
        parse.GetValue(GlobalOptions.TrackingUri) is { } uri ? ["--tracking-uri", uri] : [];
}
