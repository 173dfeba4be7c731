using Distill.Core.Tracking;
using Distill.Core.Training;

namespace Distill.Core.Tests.Tracking;

/// <summary>A checkpoint never runs ahead of the metrics, and a resume takes the history back to the checkpoint.</summary>
public sealed class MetricRewindTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static TrainingCheckpointHeader Header(string runId) => new()
    {
        RunId = runId,
        PhaseIndex = 0,
        PhaseName = "distil",
        Phase = new PhaseState { EpochsCompleted = 1 },
        DataFingerprint = "0123456789abcdef",
        Models = [],
    };

    [Fact]
    public void Saving_a_checkpoint_commits_the_buffered_points_of_the_run_and_its_phase_run_first()
    {
        using var store = RunStore.Open(_folder.Path);
        using var run = store.StartRun("exp", "run");
        using var phase = store.StartRun("exp", "distil", run.RunId);
        var tracker = new PhaseTracker(run, phase);
        for (int step = 0; step < 30; step++)
            tracker.LogMetric("train/step_loss", 1.0 / (step + 1), step);
        run.LogMetric("student/params", 2410, 0);

        string path = Path.Combine(run.ArtifactDirectory, "checkpoints", "last.ckpt");
        TrainingCheckpoint.Save(store, tracker, path, Header(run.RunId), new Dictionary<string, byte[]> { ["x"] = [1] });

        // Another process, reading the database as soon as the file exists (the buffer holds points up to 1 s).
        using var reader = RunStore.Open(_folder.Path);
        Assert.Equal(30, reader.GetMetricHistory(phase.RunId, "train/step_loss").Count);
        Assert.Equal(30, reader.GetMetricHistory(run.RunId, "train/step_loss").Count);
        Assert.Single(reader.GetMetricHistory(run.RunId, "student/params"));
        var (header, _) = TrainingCheckpoint.Read(path);
        Assert.Equal(new Dictionary<string, long> { [run.RunId] = 31, [phase.RunId] = 30 }, header.MetricCounts);
    }

    [Fact]
    public void Truncating_takes_an_mlflow_servers_count_of_sent_rows_back_so_the_redone_points_are_sent()
    {
        using var store = RunStore.Open(_folder.Path);
        using var run = store.StartRun("exp", "run");
        for (int step = 0; step < 5; step++)
            run.LogMetric("loss", step, step);
        run.Flush();
        var counts = store.MetricCounts(run.RunId);
        run.LogMetric("loss", 5, 5);
        run.LogMetric("loss", 6, 6);
        run.Flush();
        // Two servers: one got all 7 rows before the crash, one only the first 3.
        _folder.ExecuteSql("INSERT INTO mlflow_runs (run_id, server, remote_run_id, experiment_id, artifact_uri, metrics_sent, status_sent) " +
            $"VALUES ('{run.RunId}', 'http://a', 'ra', '1', 'a', 7, 'RUNNING'), ('{run.RunId}', 'http://b', 'rb', '1', 'b', 3, 'RUNNING');");

        Assert.Equal(2, store.TruncateMetrics(run.RunId, counts));

        // sync sends rows from metrics_sent on (in rowid order): the redone epochs' rows 5 and 6 must be sent to 'a' again.
        Assert.Equal([5L, 3L], _folder.QueryInt64("SELECT metrics_sent FROM mlflow_runs ORDER BY server;"));
    }

    [Fact]
    public void Truncating_keeps_the_first_points_of_each_run_and_empties_a_phase_run_started_after_the_counts()
    {
        using var store = RunStore.Open(_folder.Path);
        using var run = store.StartRun("exp", "run");
        using var teacher = store.StartRun("exp", "teacher", run.RunId);
        using var other = store.StartRun("exp", "unrelated");
        for (int step = 0; step < 5; step++)
        {
            run.LogMetric("loss", step, step);
            teacher.LogMetric("loss", step, step);
            other.LogMetric("loss", step, step);
        }
        run.Flush();
        teacher.Flush();
        var counts = store.MetricCounts(run.RunId);
        Assert.Equal(new Dictionary<string, long> { [run.RunId] = 5, [teacher.RunId] = 5 }, counts);

        // After the checkpoint: two more epochs of the teacher, a value logged again at step 0, and a new phase run.
        using var student = store.StartRun("exp", "student", run.RunId);
        foreach (var tracker in new[] { run, teacher })
        {
            tracker.LogMetric("loss", 50, 5);
            tracker.LogMetric("loss", 60, 6);
            tracker.LogMetric("loss", -1, 0);
            tracker.LogMetric("late", 7, 6);
            tracker.Flush();
        }
        student.LogMetric("loss", 9, 7);
        student.Flush();
        other.LogMetric("loss", 99, 9);
        other.Flush();

        Assert.Equal(4 + 4 + 1, store.TruncateMetrics(run.RunId, counts));

        foreach (var id in new[] { run.RunId, teacher.RunId })
        {
            Assert.Equal([0.0, 1, 2, 3, 4], store.GetMetricHistory(id, "loss").Select(p => p.Value));
            Assert.Empty(store.GetMetricHistory(id, "late"));
            var latest = store.GetRun(id).Metrics;
            Assert.Equal(4, latest["loss"]); // step 4 is the latest again, not the dropped step 6 or the re-logged step 0
            Assert.False(latest.ContainsKey("late"));
        }
        Assert.Empty(store.GetMetricHistory(student.RunId, "loss"));
        Assert.Empty(store.GetRun(student.RunId).Metrics);
        Assert.Equal(6, store.GetMetricHistory(other.RunId, "loss").Count);
        Assert.Equal(99, store.GetRun(other.RunId).Metrics["loss"]);
    }

    [Fact]
    public void Preparing_a_resume_deletes_the_temporary_files_of_killed_checkpoint_writes_only()
    {
        using var store = RunStore.Open(_folder.Path);
        using var run = store.StartRun("exp", "run");
        run.LogMetric("loss", 1, 0);
        run.Flush();
        var header = Header(run.RunId) with { MetricCounts = new Dictionary<string, long>(store.MetricCounts(run.RunId)) };
        string folder = run.ArtifactDirectory;
        string[] orphans = [Path.Combine(folder, "checkpoints", ".last.ckpt.4194304.tmp"), Path.Combine(folder, "models", ".student.ckpt.77.tmp")];
        string[] kept =
        [
            Path.Combine(folder, "checkpoints", "last.ckpt"),
            Path.Combine(folder, "exports", "cpu", ".model.onnx.3f2a9c1d5e6b4a7f8c9d0e1f2a3b4c5d.tmp"), // an export's, not a checkpoint's
            Path.Combine(folder, "notes.1234.tmp"),
        ];
        foreach (string file in orphans.Concat(kept))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(file, "x");
        }
        run.LogMetric("loss", 2, 1);
        run.Flush();

        Assert.Equal(1, TrainingCheckpoint.PrepareResume(store, run, header));

        Assert.All(orphans, file => Assert.False(File.Exists(file), file));
        Assert.All(kept, file => Assert.True(File.Exists(file), file));
        Assert.Single(store.GetMetricHistory(run.RunId, "loss"));
    }
}
