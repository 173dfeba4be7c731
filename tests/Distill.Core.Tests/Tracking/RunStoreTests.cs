using System.Text.Json;
using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

public sealed class RunStoreTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void StartLogEnd_RoundTripsThroughGetRunAndJson()
    {
        using var store = RunStore.Open(_folder.Path);
        string parentId;
        using (var parent = store.StartRun("fashion", "sweep"))
        {
            parentId = parent.RunId;
            parent.End(RunStatus.Finished);
        }

        string runId;
        using (var tracker = store.StartRun("fashion", "student-mlp", parentId))
        {
            runId = tracker.RunId;
            tracker.LogParams(new Dictionary<string, string> { ["stages.0.optimizer.lr"] = "0.001", ["student.kind"] = "mlp" });
            tracker.LogMetric("train/loss", 2.5, 0);
            tracker.LogMetric("train/loss", 0.75, 1);
            tracker.LogMetric("val/accuracy", 0.875, 1);
            tracker.SetTag("seed", "42");
            tracker.End(RunStatus.Failed, "loss became NaN at step 2");
        }

        var run = store.GetRun(runId);
        Assert.Matches("^[0-9a-f]{32}$", run.Id);
        Assert.Equal("fashion", run.Experiment);
        Assert.Equal("student-mlp", run.Name);
        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Equal(parentId, run.ParentRunId);
        Assert.NotNull(run.EndTime);
        Assert.True(run.EndTime >= run.StartTime);
        Assert.Equal("0.001", run.Params["stages.0.optimizer.lr"]);
        Assert.Equal(0.75, run.Metrics["train/loss"]);
        Assert.Equal("loss became NaN at step 2", run.Tags["error"]);

        using var json = JsonDocument.Parse(RunJson.Serialize(run));
        var root = json.RootElement;
        Assert.Equal(runId, root.GetProperty("id").GetString());
        Assert.Equal("fashion", root.GetProperty("experiment").GetString());
        Assert.Equal("student-mlp", root.GetProperty("name").GetString());
        Assert.Equal("FAILED", root.GetProperty("status").GetString());
        Assert.Equal(parentId, root.GetProperty("parent_run_id").GetString());
        Assert.Equal(run.StartTime, root.GetProperty("start_time").GetDateTimeOffset());
        Assert.Equal(run.EndTime, root.GetProperty("end_time").GetDateTimeOffset());
        Assert.Equal("mlp", root.GetProperty("params").GetProperty("student.kind").GetString());
        Assert.Equal(0.75, root.GetProperty("metrics").GetProperty("train/loss").GetDouble());
        Assert.Equal(0.875, root.GetProperty("metrics").GetProperty("val/accuracy").GetDouble());
        Assert.Equal("42", root.GetProperty("tags").GetProperty("seed").GetString());
        Assert.Equal(JsonValueKind.Array, root.GetProperty("artifacts").ValueKind);
        Assert.Equal(0, root.GetProperty("artifacts").GetArrayLength());

        var parentJson = JsonDocument.Parse(RunJson.Serialize(store.GetRun(parentId))).RootElement;
        Assert.Equal("FINISHED", parentJson.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, parentJson.GetProperty("parent_run_id").ValueKind);
    }

    [Fact]
    public void ListRuns_IsNewestFirstAndFiltersByExperiment()
    {
        using var store = RunStore.Open(_folder.Path);
        var ids = new List<string>();
        foreach (var (experiment, name) in new[] { ("a", "first"), ("b", "second"), ("a", "third") })
        {
            using var tracker = store.StartRun(experiment, name);
            tracker.End(RunStatus.Finished);
            ids.Add(tracker.RunId);
        }

        Assert.Equal([ids[2], ids[1], ids[0]], store.ListRuns().Select(r => r.Id));
        Assert.Equal([ids[2], ids[0]], store.ListRuns("a").Select(r => r.Id));
        Assert.Empty(store.ListRuns("no-such-experiment"));
    }

    [Fact]
    public void LatestMetric_IsFromTheHighestStepNotTheLastLogged()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        tracker.LogMetric("loss", 0.5, 10);
        tracker.LogMetric("loss", 0.9, 3);  // logged later, but an earlier step
        tracker.LogMetric("loss", 0.7, 10); // same highest step, logged later: wins
        tracker.LogMetric("loss", 0.8, 7);
        tracker.End(RunStatus.Finished);

        Assert.Equal(0.7, store.GetRun(tracker.RunId).Metrics["loss"]);
    }

    [Fact]
    public void MetricHistory_KeepsEveryPointInStepOrder()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        long[] steps = [5, 1, 3, 2, 4, 0];
        foreach (long step in steps)
            tracker.LogMetric("acc", step / 10.0, step);
        tracker.LogMetric("other", 1.0, 0);
        tracker.End(RunStatus.Finished);

        var history = store.GetMetricHistory(tracker.RunId, "acc");
        Assert.Equal([0L, 1, 2, 3, 4, 5], history.Select(p => p.Step));
        Assert.Equal([0.0, 0.1, 0.2, 0.3, 0.4, 0.5], history.Select(p => p.Value));
        Assert.All(history, p => Assert.True(p.Timestamp > DateTimeOffset.UtcNow.AddMinutes(-5)));
        Assert.Empty(store.GetMetricHistory(tracker.RunId, "never-logged"));
    }

    [Fact]
    public void NonFiniteMetricValues_SurviveTheStoreAndJson()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        tracker.LogMetric("nan", double.NaN, 0);
        tracker.LogMetric("inf", double.PositiveInfinity, 0);
        tracker.LogMetric("neg", double.NegativeInfinity, 0);
        tracker.End(RunStatus.Finished);

        var run = store.GetRun(tracker.RunId);
        Assert.True(double.IsNaN(run.Metrics["nan"]));
        Assert.Equal(double.PositiveInfinity, run.Metrics["inf"]);
        Assert.True(double.IsNaN(store.GetMetricHistory(run.Id, "nan").Single().Value));
        var metrics = JsonDocument.Parse(RunJson.Serialize(run)).RootElement.GetProperty("metrics");
        Assert.Equal("NaN", metrics.GetProperty("nan").GetString());
        Assert.Equal("Infinity", metrics.GetProperty("inf").GetString());
        Assert.Equal("-Infinity", metrics.GetProperty("neg").GetString());
    }

    [Fact]
    public void TenThousandMetricPoints_AreAllPresentAfterEnd()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "long");
        for (int step = 0; step < 10_000; step++)
            tracker.LogMetric("train/loss", 1.0 / (step + 1), step);
        tracker.End(RunStatus.Finished);

        var history = store.GetMetricHistory(tracker.RunId, "train/loss");
        Assert.Equal(10_000, history.Count);
        Assert.Equal(Enumerable.Range(0, 10_000).Select(s => (long)s), history.Select(p => p.Step));
        Assert.Equal(1.0 / 10_000, store.GetRun(tracker.RunId).Metrics["train/loss"]);
    }

    [Fact]
    public void MetricsAreFlushedInTheBackgroundWithoutEnd()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "live");
        tracker.LogMetric("loss", 0.25, 1); // below the batch size: only the timer writes it

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (store.GetMetricHistory(tracker.RunId, "loss").Count == 0 && DateTime.UtcNow < deadline)
            Thread.Sleep(50);

        Assert.Equal(0.25, store.GetMetricHistory(tracker.RunId, "loss").Single().Value);
        Assert.Equal(RunStatus.Running, store.GetRun(tracker.RunId).Status);
    }

    [Fact]
    public void GetRun_AcceptsAUniquePrefix()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        tracker.End(RunStatus.Finished);

        Assert.Equal(tracker.RunId, store.GetRun(tracker.RunId[..8]).Id);
        Assert.Equal(tracker.RunId, store.GetRun(tracker.RunId.ToUpperInvariant()).Id);
    }

    [Fact]
    public void GetRun_UnknownIdListsRecentRuns()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "the-only-run");
        tracker.End(RunStatus.Finished);

        string unknown = tracker.RunId[0] == 'f' ? "0000" : "ffff";
        var error = Assert.Throws<InvalidInputException>(() => store.GetRun(unknown));
        Assert.Contains($"no run '{unknown}'", error.Message);
        Assert.Contains(tracker.RunId, error.Message);
        Assert.Contains("exp/the-only-run", error.Message);
        Assert.Throws<InvalidInputException>(() => store.GetRun("not-hex"));
    }

    [Fact]
    public void GetRun_AmbiguousPrefixListsTheMatchingRuns()
    {
        using var store = RunStore.Open(_folder.Path);
        // Runs until two share a first hex digit (at most 17 by pigeonhole).
        var byFirstDigit = new Dictionary<char, List<string>>();
        while (!byFirstDigit.Values.Any(ids => ids.Count >= 2))
        {
            using var tracker = store.StartRun("exp", "run");
            tracker.End(RunStatus.Finished);
            if (!byFirstDigit.TryGetValue(tracker.RunId[0], out var ids))
                byFirstDigit[tracker.RunId[0]] = ids = [];
            ids.Add(tracker.RunId);
        }
        var (prefix, matching) = byFirstDigit.First(p => p.Value.Count >= 2);

        var error = Assert.Throws<InvalidInputException>(() => store.GetRun(prefix.ToString()));
        Assert.Contains("ambiguous", error.Message);
        Assert.All(matching, id => Assert.Contains(id, error.Message));
        var others = byFirstDigit.Where(p => p.Key != prefix).SelectMany(p => p.Value);
        Assert.All(others, id => Assert.DoesNotContain(id, error.Message));
    }

    [Fact]
    public void ResumeRun_KeepsTheIdAndAccumulatesMetrics()
    {
        string runId;
        using (var store = RunStore.Open(_folder.Path))
        {
            using var tracker = store.StartRun("exp", "resumable");
            runId = tracker.RunId;
            tracker.LogMetric("loss", 0.9, 0);
            tracker.LogMetric("loss", 0.8, 1);
            tracker.End(RunStatus.Killed, "interrupted by the user");
        }

        using (var store = RunStore.Open(_folder.Path))
        {
            using var tracker = store.ResumeRun(runId[..10]);
            Assert.Equal(runId, tracker.RunId);
            var resumed = store.GetRun(runId);
            Assert.Equal(RunStatus.Running, resumed.Status);
            Assert.Null(resumed.EndTime);
            Assert.False(resumed.Tags.ContainsKey("error"));

            tracker.LogMetric("loss", 0.7, 2);
            tracker.LogMetric("loss", 0.6, 3);
            tracker.End(RunStatus.Finished);
        }

        using (var store = RunStore.Open(_folder.Path))
        {
            var run = store.GetRun(runId);
            Assert.Equal(RunStatus.Finished, run.Status);
            Assert.Equal(0.6, run.Metrics["loss"]);
            Assert.Equal([0.9, 0.8, 0.7, 0.6], store.GetMetricHistory(runId, "loss").Select(p => p.Value));
            Assert.Single(store.ListRuns());
        }
    }

    [Fact]
    public void LogArtifact_CopiesTheFileAndListsIt()
    {
        string source = Path.Combine(_folder.Path, "outside-report.txt");
        File.WriteAllText(source, "accuracy 0.91\n");
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        tracker.LogArtifact(source);
        tracker.LogArtifact(source, "reports/final.txt");
        File.WriteAllText(Path.Combine(tracker.ArtifactDirectory, "model.onnx"), "not really onnx");
        tracker.RegisterArtifact("model.onnx");
        Assert.Throws<FileNotFoundException>(() => tracker.RegisterArtifact("never-written.bin"));
        tracker.End(RunStatus.Finished);

        Assert.Equal(Path.Combine(_folder.Path, "artifacts", tracker.RunId), tracker.ArtifactDirectory);
        var run = store.GetRun(tracker.RunId);
        Assert.Equal(["model.onnx", "outside-report.txt", "reports/final.txt"], run.Artifacts);
        string copy = store.ResolveArtifact(run.Id, "reports/final.txt");
        Assert.Equal(Path.Combine(tracker.ArtifactDirectory, "reports", "final.txt"), copy);
        Assert.Equal("accuracy 0.91\n", File.ReadAllText(copy));
        Assert.True(File.Exists(source)); // copied, not moved
        Assert.Empty(Directory.GetFiles(tracker.ArtifactDirectory, "*.tmp", SearchOption.AllDirectories));
        var artifacts = JsonDocument.Parse(RunJson.Serialize(run)).RootElement.GetProperty("artifacts");
        Assert.Equal(["model.onnx", "outside-report.txt", "reports/final.txt"], artifacts.EnumerateArray().Select(a => a.GetString()));

        var missing = Assert.Throws<InvalidInputException>(() => store.ResolveArtifact(run.Id, "nope.bin"));
        Assert.Contains("model.onnx", missing.Message);
    }

    [Fact]
    public void Params_AreWriteOnce()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        tracker.LogParams(new Dictionary<string, string> { ["epochs"] = "3" });
        tracker.LogParams(new Dictionary<string, string> { ["epochs"] = "3", ["seed"] = "1" });

        var error = Assert.Throws<InvalidInputException>(() => tracker.LogParams(new Dictionary<string, string> { ["epochs"] = "4" }));
        Assert.Contains("'epochs'", error.Message);
        tracker.End(RunStatus.Finished);
        Assert.Equal("3", store.GetRun(tracker.RunId).Params["epochs"]);
        Assert.Equal(2, store.GetRun(tracker.RunId).Params.Count);
    }

    [Fact]
    public void AfterEnd_LoggingIsRefused()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        tracker.End(RunStatus.Finished);

        Assert.Throws<InvalidOperationException>(() => tracker.LogMetric("loss", 1, 0));
        Assert.Throws<InvalidOperationException>(() => tracker.End(RunStatus.Failed));
        Assert.Equal(RunStatus.Finished, store.GetRun(tracker.RunId).Status);
    }
}
