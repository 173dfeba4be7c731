using System.CommandLine;
using Distill.Core;
using Distill.Core.Sweeps;
using Distill.Core.Tracking;

namespace Distill.Cli.Commands.Sweep;

/// <summary>`distill sweep resume`: runs again the trials of a sweep that did not finish (a trial stopped after a checkpoint
/// continues from it), on the sweep's backend, under the same sweep run.</summary>
public static class SweepResumeCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("sweep") { Description = "The sweep's run id (or a unique prefix)" };
        var parallel = new Option<int?>("--parallel") { Description = "Trials at once (default: as the sweep started)" };
        var wait = new Option<bool>("--wait") { Description = "slurm: follow the job until every task ends, then merge and show the ranking" };
        var resume = new Command("resume", "Run the trials of a sweep that did not finish (FAILED, KILLED or never started; not those ASHA stopped).") { id, parallel, wait };
        resume.SetAction(parse =>
        {
            if (parse.GetValue(parallel) is < 1 and var bad)
                throw new InvalidInputException($"--parallel must be at least 1, got {bad}");
            using var store = RunStore.Open(GlobalOptions.StoreDirectory(parse));
            var manifest = SweepShowCommand.Find(store, parse.GetValue(id)!);
            string folder = SweepManifest.Folder(store.Directory, manifest.SweepRunId);
            if (manifest.Backend == "slurm")
            {
                SlurmBackend.RequireSlurm();
                var active = SlurmBackend.ActiveTasks(manifest.SlurmJobs);
                if (active.Count > 0)
                    throw new InvalidInputException($"sweep {manifest.SweepRunId} still has {active.Count} Slurm task(s) pending or running (jobs {string.Join(",", manifest.SlurmJobs)}); wait for them or scancel them first");
                new SlurmBackend(manifest, store.Directory, folder, SweepRunner.Forwarded(parse), Console.Error).Merge(store);
            }
            var unfinished = SweepResults.Collect(store, manifest).Where(r => !r.Done).Select(r => r.Trial).OrderBy(t => t.Index).ToList();
            if (unfinished.Count == 0)
            {
                Console.Out.WriteLine($"sweep {manifest.SweepRunId}: every trial finished (or was stopped early by ASHA); nothing to resume");
                return ExitCodes.Success;
            }
            if (parse.GetValue(parallel) is { } k)
                manifest = manifest with { Parallel = k };
            using var sweepRun = store.ResumeRun(manifest.SweepRunId);
            Console.Error.WriteLine($"sweep {manifest.SweepRunId}: resuming {unfinished.Count} trial(s): {string.Join(", ", unfinished.Select(t => t.Index))}");
            return manifest.Family is null
                ? SweepRunner.Run(parse, store, sweepRun, manifest, unfinished, parse.GetValue(wait))
                : FamilyTrain.Continue(parse, store, sweepRun, manifest);
        });
        return resume;
    }
}
