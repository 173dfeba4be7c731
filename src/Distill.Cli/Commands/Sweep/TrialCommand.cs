using Distill.Core.Sweeps;
using Distill.Core.Tracking;

namespace Distill.Cli.Commands.Sweep;

/// <summary>The `distill` command line that runs one trial: a new `train` run under the sweep run, or `train --resume` of
/// the trial's run when it stopped after a checkpoint (so a killed trial continues where it was).</summary>
public static class TrialCommand
{
    /// <summary>This program as a command: the apphost, or dotnet and distill.dll when run through dotnet.</summary>
    public static IReadOnlyList<string> Program()
    {
        string process = Environment.ProcessPath ?? "distill";
        string name = Path.GetFileNameWithoutExtension(process);
        return name == "dotnet"
            ? [process, Path.Combine(AppContext.BaseDirectory, "distill.dll")]
            : [process];
    }

    /// <param name="store">The store the trial writes.</param>
    /// <param name="previous">The trial's run so far in that store, or null.</param>
    /// <param name="threads">--threads for the trial; null = leave it out (the script passes its own).</param>
    /// <param name="forwarded">Global options of the sweep command the trial gets too (--tracking-uri).</param>
    public static List<string> Arguments(SweepManifest manifest, SweepTrial trial, string store, RunRecord? previous, string? threads,
        IReadOnlyList<string> forwarded)
    {
        var args = new List<string>(Program()) { "--store", store };
        args.AddRange(forwarded);
        if (threads is not null)
            args.AddRange(["--threads", threads]);
        if (previous is not null && File.Exists(Path.Combine(store, "artifacts", previous.Id, Core.RunExecutor.CheckpointArtifact)))
        {
            args.AddRange(["train", "--resume", previous.Id]);
            return args;
        }
        args.AddRange(["train", manifest.Recipe]);
        foreach (string value in trial.Overrides)
            args.AddRange(["--set", value]);
        args.AddRange(["--sweep-run", manifest.SweepRunId, "--sweep-trial", trial.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        return args;
    }
}
