using System.Globalization;
using System.Text;
using Distill.Core.Sweeps;

namespace Distill.Cli.Commands.Sweep;

/// <summary>
/// The batch script of a sweep's job array: one array task per trial, its id the trial's index, so that task N runs
/// trial N (`#SBATCH --array=0-3%2`, or the listed indices when resuming some of them). Each task runs one `distill`
/// command that writes its own store, with as many threads as CPUs Slurm gave it.
/// </summary>
public static class SlurmScript
{
    /// <param name="commands">The `distill` command line of each trial to run, by trial index.</param>
    public static string Build(SweepManifest manifest, string sweepFolder, IReadOnlyDictionary<int, IReadOnlyList<string>> commands, int parallel)
    {
        ArgumentOutOfRangeException.ThrowIfZero(commands.Count);
        var slurm = manifest.Slurm;
        var text = new StringBuilder();
        text.AppendLine("#!/bin/bash");
        text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --job-name=distill-sweep-{manifest.SweepRunId[..8]}");
        text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --array={ArrayIndices(commands.Keys)}%{parallel}");
        text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --output={Path.Combine(sweepFolder, "logs", "trial-%a.out")}");
        if (slurm.CpusPerTask is { } cpus)
            text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --cpus-per-task={cpus}");
        if (slurm.Memory is { } memory)
            text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --mem={memory}");
        if (slurm.Time is { } time)
            text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --time={time}");
        if (slurm.Partition is { } partition)
            text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --partition={partition}");
        if (slurm.Account is { } account)
            text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --account={account}");
        text.AppendLine(CultureInfo.InvariantCulture, $"# Distill sweep {manifest.SweepRunId} of {manifest.Recipe}: task N runs trial N and writes {Path.Combine(sweepFolder, "trials", "N", "store")}.");
        text.AppendLine("threads=\"${SLURM_CPUS_PER_TASK:-1}\"");
        text.AppendLine("case \"$SLURM_ARRAY_TASK_ID\" in");
        foreach (var (index, command) in commands.OrderBy(c => c.Key))
        {
            var words = command.Select(GlobalOptions.ShellWord).ToList();
            // The threads come from the task's allocation: insert them after the program (and its dll).
            int afterProgram = TrialCommand.Program().Count;
            words.Insert(afterProgram, "--threads \"$threads\"");
            text.AppendLine(CultureInfo.InvariantCulture, $"  {index}) exec {string.Join(' ', words)} ;;");
        }
        text.AppendLine("  *) echo \"this sweep has no trial $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;");
        text.AppendLine("esac");
        return text.ToString();
    }

    /// <summary>"0-3" for consecutive indices, else "1,4,7".</summary>
    public static string ArrayIndices(IEnumerable<int> indices)
    {
        var sorted = indices.Order().ToList();
        bool consecutive = sorted.Count > 1 && sorted[^1] - sorted[0] == sorted.Count - 1;
        return consecutive
            ? $"{sorted[0]}-{sorted[^1]}"
            : string.Join(',', sorted.Select(i => i.ToString(CultureInfo.InvariantCulture)));
    }
}
