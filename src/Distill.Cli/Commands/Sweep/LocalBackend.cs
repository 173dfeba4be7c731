using System.Diagnostics;
using System.Globalization;
using Distill.Core.Sweeps;
using Distill.Core.Tracking;

namespace Distill.Cli.Commands.Sweep;

/// <summary>
/// Runs trials on this machine as separate `distill train` processes, at most <c>parallel</c> at once, each with its
/// share of the cores as threads, all writing the sweep's store (SQLite on a local disk takes several writers). Each
/// trial's output goes to &lt;sweep folder&gt;/logs/trial-N.out. Cancelling sends SIGTERM to the running trials, which
/// end their runs KILLED (with their checkpoints, so that `distill sweep resume` continues them).
/// </summary>
public sealed class LocalBackend(SweepManifest manifest, string storeDirectory, string sweepFolder, IReadOnlyList<string> forwarded, TextWriter output)
{
    /// <summary>How often running trials are checked for new per-epoch values when ASHA is on.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private readonly Asha? _asha = manifest.EarlyStop is { } e ? new Asha(e.GraceEpochs, e.Reduction, e.Maximize) : null;
    /// <summary>Per trial: the last epoch whose value ASHA has seen.</summary>
    private readonly Dictionary<int, long> _seen = [];
    /// <summary>Trials ASHA stopped, with the reason, while their process ends.</summary>
    private readonly Dictionary<int, (string RunId, string Reason)> _stopped = [];

    public void Run(IReadOnlyList<SweepTrial> trials, int parallel, int threadsPerTrial, CancellationToken cancel)
    {
        if (_asha is not null)
            Judge([], seedOnly: true);
        var pending = new Queue<SweepTrial>(trials);
        var running = new List<(SweepTrial Trial, Process Process, Task Copy)>();
        Directory.CreateDirectory(Path.Combine(sweepFolder, "logs"));
        try
        {
            while (pending.Count > 0 || running.Count > 0)
            {
                while (running.Count < parallel && pending.Count > 0 && !cancel.IsCancellationRequested)
                {
                    var trial = pending.Dequeue();
                    var (process, copy) = Start(trial, threadsPerTrial);
                    running.Add((trial, process, copy));
                    output.WriteLine($"trial {trial.Index} started: {trial}");
                }
                if (running.Count == 0)
                    break;
                int done = Task.WaitAny([.. running.Select(r => r.Process.WaitForExitAsync())], cancel.IsCancellationRequested ? Timeout.Infinite : (int)PollInterval.TotalMilliseconds);
                if (_asha is not null && done < 0 && !cancel.IsCancellationRequested)
                    Judge(running.Select(r => (r.Trial, r.Process)).ToList(), seedOnly: false);
                if (cancel.IsCancellationRequested)
                {
                    Terminate(running.Select(r => r.Process));
                    foreach (var r in running)
                    {
                        r.Process.WaitForExit();
                        r.Copy.Wait(CancellationToken.None);
                    }
                    running.Clear();
                    cancel.ThrowIfCancellationRequested();
                }
                if (done < 0)
                    continue;
                var (finished, exited, copied) = running[done];
                running.RemoveAt(done);
                exited.WaitForExit();
                copied.Wait(CancellationToken.None);
                if (_stopped.TryGetValue(finished.Index, out var stop))
                {
                    // The trial ended KILLED on the SIGTERM; its error says why, not "interrupted by the user".
                    using var store = RunStore.Open(storeDirectory);
                    if (store.GetRun(stop.RunId).Status == RunStatus.Killed)
                    {
                        using var run = store.AttachToRun(stop.RunId);
                        run.SetTag("error", stop.Reason);
                    }
                }
                output.WriteLine($"trial {finished.Index} ended: {Outcome(finished, exited.ExitCode)}");
                exited.Dispose();
            }
        }
        finally
        {
            foreach (var r in running)
                r.Process.Dispose();
        }
    }

    /// <summary>Feeds ASHA the per-epoch values the trials logged since the last look, and stops (SIGTERM) a running
    /// trial it rules out, tagging its run with the reason. <paramref name="seedOnly"/>: only record what the trials of an
    /// earlier session reached, stopping nothing (a resumed sweep keeps its rungs).</summary>
    private void Judge(IReadOnlyList<(SweepTrial Trial, Process Process)> running, bool seedOnly)
    {
        var settings = manifest.EarlyStop!;
        using var store = RunStore.Open(storeDirectory);
        var runs = SweepResults.Collect(store, manifest).Where(r => r.Run is not null).ToDictionary(r => r.Trial.Index, r => r.Run!);
        var judged = seedOnly
            ? runs.Keys.Select(index => (Index: index, Process: (Process?)null)).ToList()
            : running.Select(r => (Index: r.Trial.Index, Process: (Process?)r.Process)).ToList();
        foreach (var (index, process) in judged)
        {
            if (_stopped.ContainsKey(index) || !runs.TryGetValue(index, out var run))
                continue;
            if (!seedOnly && run.Status != RunStatus.Running)
                continue;
            long seen = _seen.GetValueOrDefault(index);
            foreach (var point in store.GetMetricHistory(run.Id, settings.Metric).Where(p => p.Step > seen))
            {
                _seen[index] = point.Step;
                string? reason = _asha!.Report(index, point.Step, point.Value);
                if (reason is null || seedOnly || process is null)
                    continue;
                using (var tracker = store.AttachToRun(run.Id))
                    tracker.SetTag(EarlyStopSettings.Tag, reason);
                _stopped[index] = (run.Id, reason);
                output.WriteLine($"trial {index} {reason} ({settings.Metric})");
                Terminate([process]);
                break;
            }
        }
    }

    private (Process, Task) Start(SweepTrial trial, int threads)
    {
        RunRecord? previous;
        using (var store = RunStore.Open(storeDirectory))
            previous = SweepResults.Collect(store, manifest).First(r => r.Trial.Index == trial.Index).Run;
        var args = TrialCommand.Arguments(manifest, trial, storeDirectory, previous, threads.ToString(CultureInfo.InvariantCulture), forwarded);
        var info = new ProcessStartInfo(args[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args.Skip(1))
            info.ArgumentList.Add(arg);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {args[0]}");
        var log = new FileStream(LogPath(trial), FileMode.Append, FileAccess.Write, FileShare.Read);
        var shared = Stream.Synchronized(log);
        var copy = Task.WhenAll(
                process.StandardOutput.BaseStream.CopyToAsync(shared),
                process.StandardError.BaseStream.CopyToAsync(shared))
            .ContinueWith(_ => log.Dispose(), TaskScheduler.Default);
        return (process, copy);
    }

    public string LogPath(SweepTrial trial) => Path.Combine(sweepFolder, "logs", $"trial-{trial.Index}.out");

    private string Outcome(SweepTrial trial, int exitCode)
    {
        using var store = RunStore.Open(storeDirectory);
        var result = SweepResults.Collect(store, manifest).First(r => r.Trial.Index == trial.Index);
        if (result.Run is null)
            return $"no run (exit code {exitCode}; see {LogPath(trial)})";
        string metric = result.Metric is { } m ? $", {manifest.Metric} {MetricFormat.Format(manifest.Metric, m)}" : "";
        string wall = result.WallSeconds is { } s ? $" in {s.ToString("F1", CultureInfo.InvariantCulture)} s" : "";
        string error = result.Run.Tags.GetValueOrDefault("error") is { } e ? $": {e}" : "";
        return $"{RunStatusName(result.Run.Status)}{metric}{wall}{error}";
    }

    public static string RunStatusName(RunStatus status) => status.ToString().ToUpperInvariant();

    /// <summary>SIGTERM (through kill(1)), so that each trial ends its run KILLED and keeps its checkpoint.</summary>
    private static void Terminate(IEnumerable<Process> processes)
    {
        foreach (var process in processes.Where(p => !p.HasExited))
        {
            try
            {
                using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]);
                kill.WaitForExit();
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
