using System.Diagnostics;
using System.Globalization;
using Distill.Core;
using Distill.Core.Sweeps;
using Distill.Core.Tracking;

namespace Distill.Cli.Commands.Sweep;

/// <summary>
/// Runs trials as a Slurm job array (see <see cref="SlurmScript"/>). SQLite is not safe over a network file system with
/// writers on many nodes, so each task writes its own store (&lt;sweep folder&gt;/trials/N/store, seeded with a copy of
/// the sweep run so that the trial's run can name it as parent) and <see cref="Merge"/> imports them into the sweep's store.
/// </summary>
public sealed class SlurmBackend(SweepManifest manifest, string storeDirectory, string sweepFolder, IReadOnlyList<string> forwarded, TextWriter output)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    /// <summary>Refuses (exit 2) before anything is written when sbatch is not on PATH.</summary>
    public static void RequireSlurm()
    {
        if (FindOnPath("sbatch") is null)
            throw new InvalidInputException(
                "--backend slurm: sbatch is not on PATH; run the sweep on a machine that submits to your Slurm cluster (a login node), " +
                "or install Slurm's client commands (Debian/Ubuntu: apt-get install slurm-client; they also need the cluster's slurm.conf and munge key)");
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, program)).FirstOrDefault(File.Exists);

    /// <summary>Writes the batch script for <paramref name="trials"/> and submits it; returns the job id.</summary>
    public string Submit(IReadOnlyList<SweepTrial> trials, int parallel)
    {
        var commands = new Dictionary<int, IReadOnlyList<string>>();
        foreach (var trial in trials)
        {
            string taskStore = SweepManifest.TrialStore(sweepFolder, trial.Index);
            RunRecord? previous;
            using (var store = RunStore.Open(taskStore))
            {
                store.Import(storeDirectory, [manifest.SweepRunId]);
                previous = SweepResults.Collect(store, manifest).First(r => r.Trial.Index == trial.Index).Run;
            }
            // The script passes the task's own thread count.
            var command = TrialCommand.Arguments(manifest, trial, taskStore, previous, threads: null, forwarded);
            commands[trial.Index] = command;
        }
        Directory.CreateDirectory(Path.Combine(sweepFolder, "logs"));
        string script = Path.Combine(sweepFolder, $"job-{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}.sh");
        File.WriteAllText(script, SlurmScript.Build(manifest, sweepFolder, commands, parallel));
        var (exit, stdout, stderr) = Run("sbatch", ["--parsable", script], sweepFolder);
        if (exit != 0)
            throw new RunFailedException($"sbatch refused {script} (exit {exit}): {stderr.Trim()}");
        string jobId = stdout.Trim().Split(';')[0];
        output.WriteLine($"submitted Slurm job {jobId}: {trials.Count} trial(s), at most {parallel} at once; script {script}");
        return jobId;
    }

    /// <summary>Array task ids of <paramref name="jobIds"/> still pending or running (squeue; a job Slurm no longer knows has none).</summary>
    public static HashSet<int> ActiveTasks(IReadOnlyList<string> jobIds)
    {
        if (jobIds.Count == 0)
            return [];
        var (exit, stdout, stderr) = Run("squeue", ["-h", "-r", "-j", string.Join(',', jobIds), "-o", "%K %T"], null);
        if (exit != 0)
        {
            if (stderr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
                return [];
            throw new RunFailedException($"squeue failed (exit {exit}): {stderr.Trim()}");
        }
        var active = new HashSet<int>();
        foreach (string line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (int.TryParse(line.Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out int task))
                active.Add(task);
        }
        return active;
    }

    /// <summary>Follows the job with squeue until none of its tasks is pending or running; cancelling stops following
    /// (the job goes on: scancel it to stop it).</summary>
    public void Wait(string jobId, CancellationToken cancel)
    {
        string last = "";
        while (true)
        {
            var active = ActiveTasks([jobId]);
            string now = active.Count == 0 ? "" : $"job {jobId}: {active.Count} task(s) pending or running";
            if (now != last && now.Length > 0)
                output.WriteLine(now);
            last = now;
            if (active.Count == 0)
                return;
            cancel.WaitHandle.WaitOne(PollInterval);
            cancel.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Imports every trial's store into the sweep's store. A trial whose run is still RUNNING although its task is no
    /// longer in the queue ended without ending its run (killed before it could): it is marked FAILED, in both stores.
    /// </summary>
    public void Merge(RunStore store)
    {
        var active = ActiveTasks(manifest.SlurmJobs);
        foreach (var trial in manifest.Trials)
        {
            string taskStore = SweepManifest.TrialStore(sweepFolder, trial.Index);
            if (!File.Exists(Path.Combine(taskStore, "distill.db")))
                continue;
            store.Import(taskStore);
            if (active.Contains(trial.Index))
                continue;
            var run = SweepResults.Collect(store, manifest).First(r => r.Trial.Index == trial.Index).Run;
            if (run?.Status != RunStatus.Running)
                continue;
            string error = $"its Slurm task ended without ending the run (killed before it could); see {Path.Combine(sweepFolder, "logs", $"trial-{trial.Index}.out")}";
            using (var task = RunStore.Open(taskStore))
                task.EndAbandonedRun(run.Id, RunStatus.Failed, error);
            store.Import(taskStore);
        }
    }

    private static (int Exit, string StdOut, string StdErr) Run(string program, IReadOnlyList<string> args, string? workingDirectory)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
            info.WorkingDirectory = workingDirectory;
        foreach (string arg in args)
            info.ArgumentList.Add(arg);
        try
        {
            using var process = Process.Start(info)!;
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout, stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new RunFailedException($"cannot run {program}: {e.Message}", e);
        }
    }
}
