using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Distill.Core.Tracking;

namespace Distill.Cli.Tests;

[CollectionDefinition(Name)]
public sealed class SlurmClusterCollection : ICollectionFixture<SlurmCluster>
{
    public const string Name = "one-node Slurm cluster";
}

/// <summary>`distill sweep --backend slurm` against a real one-node Slurm cluster started by <see cref="SlurmCluster"/>.</summary>
[Collection(SlurmClusterCollection.Name)]
public sealed class SlurmSweepTests(SlurmCluster cluster)
{
    private CliResult Distill(params string[] args)
    {
        var info = CliProcess.StartInfo(args);
        foreach (var (key, value) in cluster.Environment)
            info.Environment[key] = value;
        return CliProcess.Run(info, $"distill {string.Join(' ', args)}", TimeSpan.FromMinutes(5));
    }

    [Fact]
    public void FourTrialSweep_WithWait_EndsWithFourFinishedTrialsInTheMergedStore_AndTheBestNamed()
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir);
        string store = dir.File("store");

        var sweep = Distill("sweep", recipe, "--grid", "seed=1,2,3,4", "--backend", "slurm", "--parallel", "2", "--wait", "--store", store);

        Assert.True(sweep.ExitCode == 0, sweep + "\n" + cluster.Logs());
        string sweepId = Regex.Match(sweep.StdErr, "sweep ([0-9a-f]{32}):").Groups[1].Value;
        string folder = Path.Combine(store, "sweeps", sweepId);
        string script = File.ReadAllText(Directory.GetFiles(folder, "job-*.sh").Single());
        Assert.Contains("#SBATCH --array=0-3%2", script, StringComparison.Ordinal);
        using var runs = RunStore.Open(store);
        var trials = runs.GetChildRuns(sweepId);
        Assert.Equal(4, trials.Count);
        Assert.All(trials, t => Assert.Equal(RunStatus.Finished, t.Status));
        Assert.Equal(["1", "2", "3", "4"], trials.Select(t => t.Params["seed"]).Order());
        // Each task wrote its own store; the sweep's store holds the merged copies under the same ids.
        foreach (var trial in trials)
        {
            using var own = RunStore.Open(Path.Combine(folder, "trials", trial.Tags["distill.sweep.trial"], "store"));
            Assert.Equal(trial.Id, Assert.Single(own.GetChildRuns(sweepId)).Id);
            Assert.Equal(RunStatus.Finished, runs.GetChildRuns(trial.Id).Single().Status); // its stage came along
        }
        var best = trials.MaxBy(t => t.Metrics["student/test_acc"])!;
        Assert.Contains($"best: trial {best.Tags["distill.sweep.trial"]} (run {best.Id})", sweep.StdOut, StringComparison.Ordinal);
        Assert.Equal(RunStatus.Finished, runs.GetRun(sweepId).Status);
    }

    [Fact]
    public void ScancelOfOneTask_LeavesItsTrialKilled_AndSweepResumeFinishesIt()
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir);
        string store = dir.File("store");

        // Trial 1 trains long enough to be cancelled after its first checkpoint.
        var sweep = Distill("sweep", recipe, "--grid", "stages[0].epochs=1,150", "--backend", "slurm", "--parallel", "2", "--store", store);
        Assert.True(sweep.ExitCode == 0, sweep + "\n" + cluster.Logs());
        string sweepId = Regex.Match(sweep.StdErr, "sweep ([0-9a-f]{32}):").Groups[1].Value;
        string job = Regex.Match(sweep.StdErr, "submitted Slurm job ([0-9]+)").Groups[1].Value;
        string taskArtifacts = Path.Combine(store, "sweeps", sweepId, "trials", "1", "store", "artifacts");
        var waited = Stopwatch.StartNew();
        while (!Directory.Exists(taskArtifacts)
            || !Directory.EnumerateFiles(taskArtifacts, "last.ckpt", SearchOption.AllDirectories).Any())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2), "trial 1 never checkpointed\n" + cluster.Logs());
            Thread.Sleep(200);
        }

        var (cancelExit, cancelOutput) = cluster.Run("scancel", $"{job}_1");
        Assert.True(cancelExit == 0, cancelOutput);
        while (cluster.Run("squeue", "-h", "-j", job).Output.Trim().Length > 0)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromMinutes(3), "the job did not end after scancel\n" + cluster.Logs());
            Thread.Sleep(500);
        }

        var show = Distill("sweep", "show", sweepId, "--store", store, "--json", "--out", dir.File("sweep.png"));
        Assert.True(show.ExitCode == 0, show.ToString());
        var statuses = Statuses(show.StdOut);
        Assert.Equal("FINISHED", statuses[0].Status);
        Assert.Equal("KILLED", statuses[1].Status);
        string killedRun = statuses[1].RunId!;

        var resume = Distill("sweep", "resume", sweepId, "--wait", "--store", store);

        Assert.True(resume.ExitCode == 0, resume + "\n" + cluster.Logs());
        Assert.Contains("resuming 1 trial(s): 1", resume.StdErr, StringComparison.Ordinal);
        using var runs = RunStore.Open(store);
        var trial1 = runs.GetRun(killedRun);
        Assert.Equal(RunStatus.Finished, trial1.Status); // the same run, continued from its checkpoint
        Assert.Equal(2, runs.GetChildRuns(sweepId).Count);
        Assert.Equal(RunStatus.Finished, runs.GetRun(sweepId).Status);
    }

    private static Dictionary<int, (string? Status, string? RunId)> Statuses(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("trials").EnumerateArray().ToDictionary(
            t => t.GetProperty("trial").GetInt32(),
            t => (t.GetProperty("status").GetString(), t.GetProperty("run_id").GetString()));
    }
}
