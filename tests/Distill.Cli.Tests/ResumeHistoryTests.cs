using System.Diagnostics;
using System.Globalization;
using Distill.Core.Tracking;

namespace Distill.Cli.Tests;

/// <summary>The uninterrupted run of <see cref="ResumeHistoryTests.Recipe"/>, made once for the test classes that compare with it.</summary>
public sealed class UninterruptedDigitsRun : IDisposable
{
    private readonly TempDir _store = new();

    public UninterruptedDigitsRun()
    {
        var result = CliProcess.Run([.. ResumeHistoryTests.Recipe, "--store", _store.Path, "--json"], TimeSpan.FromMinutes(10));
        Assert.True(result.ExitCode == 0, result.ToString());
        History = RunHistory.Read(_store.Path, new RunJsonView(result.StdOut).Id);
    }

    public RunHistory History { get; }

    public void Dispose() => _store.Dispose();
}

[CollectionDefinition(Name)]
public sealed class UninterruptedDigitsCollection : ICollectionFixture<UninterruptedDigitsRun>
{
    public const string Name = "uninterrupted digits run";
}

/// <summary>
/// A run stopped at any moment (kill -9, SIGTERM) and resumed has the metric history of a run that was never
/// stopped: every point of the run and of its phase runs, once, with the same value (training on the CPU is
/// repeatable bit for bit). Killed writes leave no temporary checkpoint files behind once the run is resumed.
/// </summary>
[Collection(UninterruptedDigitsCollection.Name)]
public sealed class ResumeHistoryTests(UninterruptedDigitsRun uninterrupted)
{
    /// <summary>A teacher phase of 8 epochs and a distillation phase of 10, 21 steps each: about 20 s here.</summary>
    public static readonly string[] Recipe = ["train", "configs/digits/kd.yaml"];

    [Theory]
    [InlineData("[teacher] epoch 2/")] // just after a teacher checkpoint: its epoch's points were still buffered
    [InlineData("[distil] epoch 6/")] // in the second phase, with the teacher's phase run finished
    [InlineData("INF teacher: test accuracy")] // after the last checkpoint, while the final models are recorded
    [InlineData("INF student: test accuracy")]
    public void A_run_killed_with_sigkill_resumes_to_the_uninterrupted_history(string killAfter)
    {
        using var store = new TempDir();
        string runId = CliProcess.KillAfter(Recipe, store.Path, killAfter);
        var orphans = PlantOrphanedTemporaryFiles(store.Path, runId);

        var resumed = CliProcess.Run(["train", "--resume", runId, "--store", store.Path, "--json"], TimeSpan.FromMinutes(10));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());

        RunHistory.Read(store.Path, runId).AssertSameAs(uninterrupted.History);
        foreach (string orphan in orphans)
            Assert.False(File.Exists(orphan), $"{orphan} is still there after the resume");
    }

    [Fact]
    public void A_run_stopped_with_sigterm_resumes_to_the_uninterrupted_history()
    {
        // SIGTERM lets the run flush every point it logged after its last checkpoint before it ends KILLED;
        // the resume logs those epochs again, so it must drop the first copies.
        using var store = new TempDir();
        var (runId, exitCode) = CliProcess.KillAt(Recipe, store.Path, "[distil] epoch 3/", terminate: true);
        Assert.Equal(130, exitCode);

        var resumed = CliProcess.Run(["train", "--resume", runId, "--store", store.Path, "--json"], TimeSpan.FromMinutes(10));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        RunHistory.Read(store.Path, runId).AssertSameAs(uninterrupted.History);
    }

    /// <summary>What a kill -9 in the middle of writing a checkpoint or a final model leaves: its temporary file.</summary>
    private static List<string> PlantOrphanedTemporaryFiles(string store, string runId)
    {
        string run = Path.Combine(store, "artifacts", runId);
        List<string> orphans =
        [
            Path.Combine(run, "checkpoints", ".last.ckpt.4194999.tmp"),
            Path.Combine(run, "models", ".student.ckpt.4194998.tmp"),
        ];
        foreach (string orphan in orphans)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(orphan)!);
            File.WriteAllBytes(orphan, new byte[1000]);
        }
        return orphans;
    }
}

/// <summary>Every metric point of a run and of its phase runs (by phase name), in step order.</summary>
public sealed class RunHistory
{
    /// <summary>Metrics that measure time, and energy (CPU time × watts here): their values differ from run to run, their
    /// steps do not.</summary>
    private static readonly string[] TimingSuffixes = ["samples_per_second", "tokens_per_second", "_seconds", "_joules"];

    private readonly Dictionary<string, Dictionary<string, List<MetricPoint>>> _runs;

    private RunHistory(Dictionary<string, Dictionary<string, List<MetricPoint>>> runs) => _runs = runs;

    public static RunHistory Read(string storeDirectory, string runId)
    {
        using var store = RunStore.Open(storeDirectory);
        var runs = new Dictionary<string, Dictionary<string, List<MetricPoint>>>
        {
            ["(run)"] = Points(store, store.GetRun(runId)),
        };
        foreach (var child in store.GetChildRuns(runId))
            runs.Add(child.Name, Points(store, child));
        return new RunHistory(runs);
    }

    public void AssertSameAs(RunHistory expected)
    {
        Assert.Equal(expected._runs.Keys.Order(), _runs.Keys.Order());
        foreach (var (run, metrics) in expected._runs)
        {
            var actual = _runs[run];
            Assert.Equal(metrics.Keys.Order(), actual.Keys.Order());
            foreach (var (key, points) in metrics)
            {
                var steps = actual[key].Select(p => p.Step).ToList();
                var duplicates = steps.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
                Assert.True(duplicates.Count == 0, $"{run} {key}: steps logged twice: {string.Join(", ", duplicates.Take(10))}");
                Assert.True(points.Select(p => p.Step).SequenceEqual(steps),
                    $"{run} {key}: {points.Count} points uninterrupted, {steps.Count} resumed; missing steps " +
                    string.Join(", ", points.Select(p => p.Step).Except(steps).Take(10)));
                if (TimingSuffixes.Any(key.EndsWith))
                    continue;
                for (int i = 0; i < points.Count; i++)
                {
                    Assert.True(points[i].Value.Equals(actual[key][i].Value),
                        $"{run} {key} step {points[i].Step}: uninterrupted {points[i].Value:R}, resumed {actual[key][i].Value:R}");
                }
            }
        }
    }

    private static Dictionary<string, List<MetricPoint>> Points(RunStore store, RunRecord run) =>
        run.Metrics.Keys.ToDictionary(key => key, key => store.GetMetricHistory(run.Id, key).ToList());
}
