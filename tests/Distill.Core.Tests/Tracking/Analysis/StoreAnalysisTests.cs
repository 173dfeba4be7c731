using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;

namespace Distill.Core.Tests.Tracking.Analysis;

/// <summary>Query, compare, plot, lifecycle and download on a real temporary store.</summary>
public sealed class StoreAnalysisTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static string Log(RunStore store, string experiment, string name, IReadOnlyDictionary<string, string> parameters,
        IReadOnlyDictionary<string, double> metrics, string? parent = null)
    {
        using var tracker = store.StartRun(experiment, name, parent);
        tracker.LogParams(parameters);
        foreach (var (key, value) in metrics)
            tracker.LogMetric(key, value, 1);
        tracker.End(RunStatus.Finished);
        return tracker.RunId;
    }

    [Fact]
    public void Query_lists_top_level_runs_by_default_and_children_on_request()
    {
        using var store = RunStore.Open(_folder.Path);
        string parent = Log(store, "e", "recipe", new Dictionary<string, string>(), new Dictionary<string, double> { ["val/acc"] = 0.9 });
        string child = Log(store, "e", "teacher", new Dictionary<string, string>(), new Dictionary<string, double> { ["val/acc"] = 0.95 }, parent);

        var top = RunQueryExecutor.Execute(store, new RunQuery { Filter = "metrics.val/acc > 0.5" });
        Assert.Equal([parent], top.Runs.Select(r => r.Id));
        var all = RunQueryExecutor.Execute(store, new RunQuery { Selection = new RunSelection { IncludeChildren = true }, Sort = "-metrics.val/acc" });
        Assert.Equal([child, parent], all.Runs.Select(r => r.Id));
        Assert.Equal([child], store.GetChildRuns(parent).Select(r => r.Id));
        Assert.Equal(0.95, all.Table.Columns["metrics.val/acc"][0]);
    }

    [Fact]
    public void Delete_hides_a_run_with_its_children_and_restore_brings_them_back()
    {
        using var store = RunStore.Open(_folder.Path);
        string keep = Log(store, "e", "keep", new Dictionary<string, string>(), new Dictionary<string, double>());
        string parent = Log(store, "e", "gone", new Dictionary<string, string>(), new Dictionary<string, double>());
        string child = Log(store, "e", "phase", new Dictionary<string, string>(), new Dictionary<string, double>(), parent);

        Assert.Equal([parent, child], store.DeleteRun(parent[..8]));
        Assert.Equal([keep], store.ListRuns().Select(r => r.Id));
        Assert.Equal(new[] { parent, child }.Order(), store.FindRuns(new RunSelection { Deleted = true }).Select(r => r.Id).Order());
        Assert.NotNull(store.GetRun(parent).DeletedTime);
        Assert.Contains("already deleted", Assert.Throws<InvalidInputException>(() => store.DeleteRun(parent)).Message);

        Assert.Equal([parent, child], store.RestoreRun(parent));
        Assert.Equal(3, store.ListRuns().Count);
        Assert.Null(store.GetRun(child).DeletedTime);
        Assert.Contains("not deleted", Assert.Throws<InvalidInputException>(() => store.RestoreRun(parent)).Message);
    }

    [Fact]
    public void A_running_run_cannot_be_deleted()
    {
        using var store = RunStore.Open(_folder.Path);
        using var running = store.StartRun("e", "live");
        var e = Assert.Throws<InvalidInputException>(() => store.DeleteRun(running.RunId));
        Assert.Contains("still running", e.Message);
        Assert.Single(store.ListRuns());
    }

    [Fact]
    public void Experiments_are_created_renamed_and_listed_with_run_counts()
    {
        using var store = RunStore.Open(_folder.Path);
        store.CreateExperiment("empty");
        string r1 = Log(store, "old", "r1", new Dictionary<string, string>(), new Dictionary<string, double>());
        Log(store, "old", "r2", new Dictionary<string, string>(), new Dictionary<string, double>());
        // r1 is a recipe run with two phases; r3 and its phase are deleted.
        Log(store, "old", "teacher", new Dictionary<string, string>(), new Dictionary<string, double>(), r1);
        Log(store, "old", "distil", new Dictionary<string, string>(), new Dictionary<string, double>(), r1);
        string r3 = Log(store, "old", "r3", new Dictionary<string, string>(), new Dictionary<string, double>());
        Log(store, "old", "distil", new Dictionary<string, string>(), new Dictionary<string, double>(), r3);
        store.DeleteRun(r3);
        store.RenameExperiment("old", "new");

        var experiments = store.ListExperiments();
        Assert.Equal(["empty", "new"], experiments.Select(e => e.Name));
        Assert.Equal([0, 2], experiments.Select(e => e.Runs)); // the top-level runs, as `runs list` counts them
        Assert.Equal([0, 2], experiments.Select(e => e.ChildRuns));
        Assert.Equal([0, 1], experiments.Select(e => e.DeletedRuns));
        Assert.All(store.ListRuns(), r => Assert.Equal("new", r.Experiment));
        Assert.Contains("already exists", Assert.Throws<InvalidInputException>(() => store.CreateExperiment("new")).Message);
        Assert.Contains("already exists", Assert.Throws<InvalidInputException>(() => store.RenameExperiment("empty", "new")).Message);
        Assert.Contains("no experiment 'missing'", Assert.Throws<InvalidInputException>(() => store.RenameExperiment("missing", "x")).Message);
    }

    [Fact]
    public void Compare_shows_only_the_params_that_differ_and_every_metric()
    {
        using var store = RunStore.Open(_folder.Path);
        string a = Log(store, "e", "a", new Dictionary<string, string> { ["lr"] = "0.1", ["arch"] = "mlp", ["seed"] = "1" },
            new Dictionary<string, double> { ["acc"] = 0.9, ["loss"] = 0.3 });
        string b = Log(store, "e", "b", new Dictionary<string, string> { ["lr"] = "0.2", ["arch"] = "mlp", ["extra"] = "x" },
            new Dictionary<string, double> { ["acc"] = 0.8 });

        var comparison = RunComparison.Of([store.GetRun(a), store.GetRun(b)]);
        Assert.Equal(["extra", "lr", "seed"], comparison.Params.Columns["param"].Cast<string>());
        Assert.Equal([null, "0.1", "1"], comparison.Params.Columns[comparison.Labels[0]].Cast<string?>());
        Assert.Equal(["x", "0.2", null], comparison.Params.Columns[comparison.Labels[1]].Cast<string?>());
        Assert.Equal(["acc", "loss"], comparison.Metrics.Columns["metric"].Cast<string>());
        Assert.Equal([0.8, null], comparison.Metrics.Columns[comparison.Labels[1]].Cast<double?>());

        var csv = new StringWriter();
        comparison.WriteCsv(csv);
        Assert.Equal(
            $"kind,key,a {a[..8]},b {b[..8]}\r\nparam,extra,,x\r\nparam,lr,0.1,0.2\r\nparam,seed,1,\r\nmetric,acc,0.9,0.8\r\nmetric,loss,0.3,\r\n",
            csv.ToString());
        Assert.Contains($"\"{a}\": 0.9", comparison.ToJson());
        Assert.Throws<InvalidInputException>(() => RunComparison.Of([store.GetRun(a)]));
    }

    [Fact]
    public void Plot_writes_a_png_and_an_unknown_metric_is_an_error_naming_it()
    {
        using var store = RunStore.Open(_folder.Path);
        string id;
        using (var tracker = store.StartRun("e", "curve"))
        {
            for (int step = 0; step < 2000; step++)
                tracker.LogMetric("train/loss", Math.Exp(-step / 500.0), step);
            tracker.End(RunStatus.Finished);
            id = tracker.RunId;
        }
        string png = Path.Combine(_folder.Path, "curves.png");
        CurvePlot.SaveRunMetrics(store, [store.GetRun(id)], ["train/loss"], png);
        var bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.True(bytes.Length > 10_000, $"{bytes.Length} bytes");

        var e = Assert.Throws<InvalidInputException>(() => CurvePlot.SaveRunMetrics(store, [store.GetRun(id)], ["val/acc"], png));
        Assert.Contains("no metric 'val/acc'", e.Message);
        Assert.Contains("train/loss", e.Message);
    }

    [Fact]
    public void Download_copies_an_artifact_or_folder_and_refuses_traversal()
    {
        using var store = RunStore.Open(_folder.Path);
        string id;
        using (var tracker = store.StartRun("e", "art"))
        {
            string source = Path.Combine(_folder.Path, "w.bin");
            File.WriteAllBytes(source, [1, 2, 3]);
            tracker.LogArtifact(source, "models/w.bin");
            tracker.LogArtifact(source, "models/sub/v.bin");
            tracker.End(RunStatus.Finished);
            id = tracker.RunId;
        }
        string output = Path.Combine(_folder.Path, "out");
        var written = ArtifactDownload.Download(store, id, "models", output);
        Assert.Equal(2, written.Count);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(output, "models", "sub", "v.bin")));

        Assert.Contains("'..' segment", Assert.Throws<InvalidInputException>(() => ArtifactDownload.Download(store, id, "../../distill.db", output)).Message);
        Assert.Contains("absolute", Assert.Throws<InvalidInputException>(() => ArtifactDownload.Download(store, id, "/etc/passwd", output)).Message);
        Assert.Contains("no artifact 'nope'", Assert.Throws<InvalidInputException>(() => ArtifactDownload.Download(store, id, "nope", output)).Message);
        Assert.Equal([(long)3, 3], store.ListArtifacts(id).Select(a => a.Size));
    }

    [Fact]
    public void Artifact_sizes_are_the_files_sizes_now_not_when_they_were_registered()
    {
        using var store = RunStore.Open(_folder.Path);
        string id, log;
        using (var tracker = store.StartRun("e", "growing"))
        {
            // As the run's log: registered empty when the run starts, written afterwards.
            log = Path.Combine(tracker.ArtifactDirectory, "logs", "run.jsonl");
            Directory.CreateDirectory(Path.GetDirectoryName(log)!);
            File.WriteAllText(log, "");
            tracker.RegisterArtifact("logs/run.jsonl");
            File.AppendAllText(log, "{\"@mt\":\"Run finished\"}\n");
            tracker.End(RunStatus.Finished);
            id = tracker.RunId;
        }
        var artifact = Assert.Single(store.ListArtifacts(id));
        Assert.Equal(new FileInfo(log).Length, artifact.Size);
        Assert.Equal(23, artifact.Size); // 22 characters and a newline
        Assert.False(artifact.Missing);

        File.Delete(log);
        artifact = Assert.Single(store.ListArtifacts(id));
        Assert.True(artifact.Missing);
        Assert.Equal(0, artifact.Size); // the size recorded at registration
    }
}
