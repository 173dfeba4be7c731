using System.Text.Json;
using System.Text.RegularExpressions;
using Distill.Core.Tracking;

namespace Distill.Cli.Tests;

/// <summary>`distill sweep` on the local backend, `sweep show`, `runs import`, and the sweep's bad input.</summary>
public sealed class SweepCliTests
{
    [Fact]
    public void LocalGridSweep_RecordsASweepRunWithOneFinishedChildPerTrial_RanksThemAndNamesTheBest()
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir);
        string store = dir.File("store");

        var sweep = CliProcess.Run("sweep", recipe, "--grid", "stages[0].epochs=1,3", "--grid", "seed=1,2", "--parallel", "2", "--store", store);

        Assert.True(sweep.ExitCode == 0, sweep.ToString());
        string sweepId = Regex.Match(sweep.StdErr, "sweep ([0-9a-f]{32}): 4 trial").Groups[1].Value;
        using var runs = RunStore.Open(store);
        var parent = runs.GetRun(sweepId);
        Assert.Equal(RunStatus.Finished, parent.Status);
        Assert.Equal("tiny-sweep", parent.Name);
        Assert.Equal("1,3", parent.Params["sweep.grid.stages.0.epochs"]);
        var trials = runs.GetChildRuns(sweepId).OrderBy(r => r.Tags["distill.sweep.trial"]).ToList();
        Assert.Equal(["0", "1", "2", "3"], trials.Select(t => t.Tags["distill.sweep.trial"]));
        Assert.All(trials, t => Assert.Equal(RunStatus.Finished, t.Status));
        Assert.All(trials, t => Assert.Equal(sweepId, t.Tags["distill.sweep"]));
        // The grid's last axis varies fastest: trial 1 is epochs 1, seed 2; trial 2 is epochs 3, seed 1.
        Assert.Equal(("1", "2"), (trials[1].Params["stages.0.epochs"], trials[1].Params["seed"]));
        Assert.Equal(("3", "1"), (trials[2].Params["stages.0.epochs"], trials[2].Params["seed"]));
        var best = trials.MaxBy(t => t.Metrics["student/test_acc"])!;
        Assert.Equal(best.Id, parent.Tags["distill.sweep.best_run"]);
        Assert.Equal(best.Metrics["student/test_acc"], parent.Metrics["student/test_acc"]);
        Assert.Contains($"best: trial {best.Tags["distill.sweep.trial"]} (run {best.Id})", sweep.StdOut, StringComparison.Ordinal);
        // `runs list` shows the sweep, not its trials.
        Assert.DoesNotContain(trials[0].Id[..8], CliProcess.Run("runs", "list", "--store", store).StdOut, StringComparison.Ordinal);

        string plot = dir.File("sweep.png");
        var show = CliProcess.Run("sweep", "show", sweepId[..8], "--store", store, "--out", plot, "--json");
        Assert.True(show.ExitCode == 0, show.ToString());
        using var json = JsonDocument.Parse(show.StdOut);
        var ranked = json.RootElement.GetProperty("trials").EnumerateArray().Select(t => t.GetProperty("metric").GetDouble()).ToList();
        Assert.Equal(ranked.OrderDescending(), ranked);
        Assert.Equal(best.Id, json.RootElement.GetProperty("best_run").GetString());
        var png = File.ReadAllBytes(plot);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
    }

    [Fact]
    public void RecipeSweepSection_IsTheSearchSpace_AndRandomDrawsAreSeeded()
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir, """
            sweep:
              random: { "stages[0].optimizer.lr": "loguniform(0.001, 0.01)" }
              trials: 2
              seed: 5
              metric: student/test_loss
              mode: min
            """);
        string store = dir.File("store");

        var sweep = CliProcess.Run("sweep", recipe, "--store", store, "--json");

        Assert.True(sweep.ExitCode == 0, sweep.ToString());
        using var json = JsonDocument.Parse(sweep.StdOut);
        Assert.Equal("student/test_loss", json.RootElement.GetProperty("metric").GetString());
        var lrs = json.RootElement.GetProperty("trials").EnumerateArray()
            .Select(t => double.Parse(t.GetProperty("values").GetProperty("stages[0].optimizer.lr").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(2, lrs.Count);
        Assert.All(lrs, lr => Assert.InRange(lr, 0.001, 0.01));
        var losses = json.RootElement.GetProperty("trials").EnumerateArray().Select(t => t.GetProperty("metric").GetDouble()).ToList();
        Assert.Equal(losses.Order(), losses);
        // The sweep's description (with its distribution) reads back.
        var show = CliProcess.Run("sweep", "show", json.RootElement.GetProperty("sweep").GetString()!, "--store", store, "--json", "--out", dir.File("p.png"));
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Equal(sweep.StdOut, show.StdOut);
    }

    [Fact]
    public void AshaStopsATrialThatFallsBehindAtARung_AndTheSweepStillFinishes()
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir);
        File.WriteAllText(recipe, File.ReadAllText(recipe).Replace("epochs: 1", "epochs: 100", StringComparison.Ordinal));
        string store = dir.File("store");

        // One at a time: trial 0 (a working learning rate) records the first rung; trial 1 (a learning rate too small to
        // learn anything in an epoch) is below it at epoch 1 and is stopped long before its 100 epochs.
        var sweep = CliProcess.Run("sweep", recipe, "--grid", "stages[0].optimizer.lr=0.01,0.00001", "--early-stop", "asha", "--store", store);

        Assert.True(sweep.ExitCode == 0, sweep.ToString());
        string sweepId = Regex.Match(sweep.StdErr, "sweep ([0-9a-f]{32}):").Groups[1].Value;
        using var runs = RunStore.Open(store);
        var trials = runs.GetChildRuns(sweepId).ToDictionary(t => t.Tags["distill.sweep.trial"]);
        Assert.Equal(RunStatus.Finished, trials["0"].Status);
        var stopped = trials["1"];
        Assert.Equal(RunStatus.Killed, stopped.Status);
        Assert.StartsWith("stopped early by ASHA at epoch 1: ", stopped.Tags["distill.sweep.early_stop"], StringComparison.Ordinal);
        Assert.Equal(stopped.Tags["distill.sweep.early_stop"], stopped.Tags["error"]);
        Assert.True(runs.GetMetricHistory(stopped.Id, "val/acc").Count < 100);
        Assert.Equal(RunStatus.Finished, runs.GetRun(sweepId).Status);
        Assert.Contains("1 stopped early by ASHA", sweep.StdOut, StringComparison.Ordinal);
        // Nothing is left to resume: a stopped trial is done.
        var resume = CliProcess.Run("sweep", "resume", sweepId, "--store", store);
        Assert.Contains("nothing to resume", resume.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void SigtermToALocalSweep_EndsItAndItsRunningTrialKilled_AndSweepResumeContinuesTheTrialToTheEnd()
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir);
        File.WriteAllText(recipe, File.ReadAllText(recipe).Replace("epochs: 1", "epochs: 100", StringComparison.Ordinal));
        string store = dir.File("store");
        using var sweep = new WatchedProcess(["sweep", recipe, "--grid", "seed=1", "--store", store], "trial 0 started");
        sweep.WaitForMarker(TimeSpan.FromMinutes(2));
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!Directory.Exists(Path.Combine(store, "artifacts"))
            || !Directory.EnumerateFiles(Path.Combine(store, "artifacts"), "last.ckpt", SearchOption.AllDirectories).Any())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2) && !sweep.Process.HasExited, "the trial never checkpointed\n" + sweep.StdErr);
            Thread.Sleep(100);
        }

        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", sweep.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        Assert.True(sweep.Process.WaitForExit(TimeSpan.FromMinutes(2)), "the sweep did not stop after SIGTERM\n" + sweep.StdErr);

        Assert.Equal(130, sweep.Process.ExitCode);
        string sweepId = Regex.Match(sweep.StdErr, "sweep ([0-9a-f]{32}):").Groups[1].Value;
        string trialId;
        using (var runs = RunStore.Open(store))
        {
            Assert.Equal(RunStatus.Killed, runs.GetRun(sweepId).Status);
            var trial = Assert.Single(runs.GetChildRuns(sweepId));
            Assert.Equal(RunStatus.Killed, trial.Status);
            trialId = trial.Id;
        }

        var resume = CliProcess.Run("sweep", "resume", sweepId[..10], "--store", store);

        Assert.True(resume.ExitCode == 0, resume.ToString());
        using var after = RunStore.Open(store);
        var resumed = Assert.Single(after.GetChildRuns(sweepId));
        Assert.Equal(trialId, resumed.Id); // the same run, continued from its checkpoint
        Assert.Equal(RunStatus.Finished, resumed.Status);
        Assert.Equal(100, after.GetMetricHistory(trialId, "val/acc").Count);
        Assert.Equal(RunStatus.Finished, after.GetRun(sweepId).Status);
    }

    [Fact]
    public void RunsImport_CopiesAnotherStoresRuns_AndASecondImportChangesNothing()
    {
        using var dir = new TempDir();
        var run = TinyDigitsRun.Train(dir);
        string target = dir.File("merged");

        var first = CliProcess.Run("runs", "import", run.Store, "--store", target);
        var second = CliProcess.Run("runs", "import", run.Store, "--store", target);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("2 new run(s), 0 updated, 0 unchanged", first.StdOut, StringComparison.Ordinal); // the run and its stage
        Assert.Contains("0 new run(s), 0 updated, 2 unchanged", second.StdOut, StringComparison.Ordinal);
        using var merged = RunStore.Open(target);
        var copy = merged.GetRun(run.RunId);
        Assert.Equal(RunStatus.Finished, copy.Status);
        Assert.True(File.Exists(merged.ResolveArtifact(run.RunId, "models/student.ckpt")));
        // The copy exports like the original: its checkpoint loads.
        var eval = CliProcess.Run("eval", $"runs:/{run.RunId}/models/student.ckpt", "--data", run.Recipe, "--store", target);
        Assert.True(eval.ExitCode == 0, eval.ToString());
    }

    [Theory]
    [InlineData(new[] { "--grid", "stages[0].loss.kd.temperatur=2,4" }, "--grid stages[0].loss.kd.temperatur: stages[0].loss.kd: unknown key 'temperatur' (did you mean 'temperature'?)")]
    [InlineData(new[] { "--grid", "studnet.model.hidden=[4],[8]" }, "--grid studnet.model.hidden: unknown key 'studnet' (did you mean 'student'?)")]
    [InlineData(new[] { "--grid", "seed=" }, "--grid seed: the value list is empty")]
    [InlineData(new[] { "--grid", "seed=1,2", "--parallel", "0" }, "--parallel must be at least 1, got 0")]
    [InlineData(new[] { "--random", "seed=choice(1,2)" }, "--random needs --trials N")]
    [InlineData(new[] { "--random", "stages[0].optimizer.lr=unifrom(0,1)", "--trials", "2" }, "did you mean 'uniform'")]
    [InlineData(new[] { "--grid", "stages[0].epochs=1,-1" }, "--grid stages[0].epochs: stages[0].epochs: must be")]
    [InlineData(new string[0], "the sweep has no search space")]
    [InlineData(new[] { "--grid", "seed=1,2", "--early-stop", "hyperband" }, "--early-stop: the only method is asha")]
    public void BadSweepInput_IsExit2WithTheOptionNamed_AndWritesNothing(string[] options, string message)
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir);
        string store = dir.File("store");

        var result = CliProcess.Run(["sweep", recipe, .. options, "--store", store], TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.StdErr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(store), "nothing is written for bad input");
    }

    [Fact]
    public void SlurmBackendWithoutSbatchOnPath_SaysHowToInstallIt()
    {
        using var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir);
        var info = CliProcess.StartInfo(["sweep", recipe, "--grid", "seed=1,2", "--backend", "slurm", "--store", dir.File("store")]);
        info.Environment["PATH"] = dir.Path; // no sbatch there

        var result = CliProcess.Run(info, "distill sweep --backend slurm", TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("sbatch is not on PATH", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("apt-get install slurm-client", result.StdErr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.File("store")));
    }

    [Fact]
    public void ShowingOrResumingASweepThatDoesNotExist_IsExit2()
    {
        using var dir = new TempDir();
        var run = TinyDigitsRun.Train(dir);

        var unknown = CliProcess.Run("sweep", "show", "0123abcd", "--store", run.Store);
        var notASweep = CliProcess.Run("sweep", "resume", run.RunId, "--store", run.Store);

        Assert.True(unknown.ExitCode == 2, unknown.ToString());
        Assert.Contains("no run '0123abcd'", unknown.StdErr, StringComparison.Ordinal);
        Assert.True(notASweep.ExitCode == 2, notASweep.ToString());
        Assert.Contains("is not a sweep run", notASweep.StdErr, StringComparison.Ordinal);
    }
}
