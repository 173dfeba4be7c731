using System.Text.Json;
using Distill.Core.Tracking;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>`runs export --mlflow-dir`, read back with <see cref="MlflowFileStoreReader"/> as MLflow's file store reads it.</summary>
public sealed class MlflowFileStoreExportTests
{
    private const string DigitsRecipe = "configs/digits/kd.yaml";

    private static string Train(string store)
    {
        var train = CliWithEnvironment.Run("train", DigitsRecipe, "--store", store, "--json",
            "--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=2");
        Assert.True(train.ExitCode == 0, train.ToString());
        return new RunJsonView(train.StdOut).Id;
    }

    [Fact]
    public void Export_is_read_back_by_MLflows_layout_rules_with_Default_trash_deleted_runs_and_child_runs()
    {
        using var store = new TempDir();
        string kept = Train(store.Path);
        string deleted = Train(store.Path);
        var delete = CliWithEnvironment.Run("runs", "delete", deleted[..8], "--store", store.Path);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        string mlruns = store.File("mlruns");

        var export = CliWithEnvironment.Run("runs", "export", "--store", store.Path, "--mlflow-dir", mlruns, "--json");
        Assert.True(export.ExitCode == 0, export.ToString());
        var exported = MlflowFileStoreReader.Read(mlruns);

        // As `mlflow server --backend-store-uri` creates it: experiment 0 "Default" and the .trash folder.
        Assert.True(Directory.Exists(Path.Combine(mlruns, ".trash")));
        var defaultExperiment = Assert.Single(exported.Experiments, e => e.Id == "0");
        Assert.Equal(("Default", "active"), (defaultExperiment.Name, defaultExperiment.LifecycleStage));
        var experiment = Assert.Single(exported.Experiments, e => e.Id != "0");
        Assert.Equal(("1", "default", "active"), (experiment.Id, experiment.Name, experiment.LifecycleStage));
        Assert.Equal(new Uri(Path.Combine(mlruns, "1")).AbsoluteUri, experiment.ArtifactLocation);

        using var local = RunStore.Open(store.Path);
        var expected = new[] { kept, deleted }.SelectMany(id => new[] { local.GetRun(id) }.Concat(ChildrenWithDeleted(local, id))).ToList();
        Assert.Equal(6, expected.Count); // two recipe runs, each with its teacher and distil phase runs
        Assert.Equal(expected.Select(r => r.Id).Order(), exported.Runs.Select(r => r.Id).Order());
        Assert.Equal(expected.Select(r => r.Id).Order(), JsonDocument.Parse(export.StdOut).RootElement.EnumerateObject().Select(p => p.Name).Order());
        foreach (var run in expected)
        {
            var read = Assert.Single(exported.Runs, r => r.Id == run.Id);
            AssertSame(local, run, read, experiment.Id, Path.Combine(mlruns, "1", run.Id));
        }
        Assert.All(exported.Runs.Where(r => r.Id == deleted || r.Tags.GetValueOrDefault("mlflow.parentRunId") == deleted),
            r => Assert.Equal("deleted", r.LifecycleStage));
        Assert.Equal(2, exported.Runs.Count(r => r.Tags.GetValueOrDefault("mlflow.parentRunId") == kept));
        Assert.Equal("0.8", exported.Runs.Single(r => r.Id == kept).Params["stages.0.loss.kd.alpha"]);

        // A recipe run named alone takes its phase runs along; exporting again into the same folder
        // after the experiment was renamed moves the runs instead of copying them.
        string single = store.File("single");
        var one = CliWithEnvironment.Run("runs", "export", kept[..8], "--store", store.Path, "--mlflow-dir", single);
        Assert.True(one.ExitCode == 0, one.ToString());
        var alone = MlflowFileStoreReader.Read(single);
        Assert.Equal(3, alone.Runs.Count);
        Assert.All(alone.Runs.Where(r => r.Id != kept), r => Assert.Equal(kept, r.Tags["mlflow.parentRunId"]));

        var rename = CliWithEnvironment.Run("experiments", "rename", "default", "renamed", "--store", store.Path);
        Assert.True(rename.ExitCode == 0, rename.ToString());
        var again = CliWithEnvironment.Run("runs", "export", kept[..8], "--store", store.Path, "--mlflow-dir", mlruns);
        Assert.True(again.ExitCode == 0, again.ToString());
        var moved = MlflowFileStoreReader.Read(mlruns); // throws if a run were in two experiments
        var renamed = Assert.Single(moved.Experiments, e => e.Name == "renamed");
        Assert.Equal("2", renamed.Id);
        Assert.Equal(3, moved.Runs.Count(r => r.ExperimentId == "2"));
        Assert.Equal(3, moved.Runs.Count(r => r.ExperimentId == "1")); // the deleted family stays where it was
        Assert.Empty(Directory.GetDirectories(Path.Combine(mlruns, "1"), ".*"));
    }

    [Fact]
    public void An_experiment_deleted_in_the_folder_is_refused_with_exit_2_and_nothing_written()
    {
        using var store = new TempDir();
        Train(store.Path);
        string mlruns = store.File("mlruns");
        string trashed = Path.Combine(mlruns, ".trash", "4");
        Directory.CreateDirectory(trashed);
        File.WriteAllText(Path.Combine(trashed, "meta.yaml"),
            "artifact_location: file:///x/4\ncreation_time: 1\nexperiment_id: '4'\nlast_update_time: 2\nlifecycle_stage: deleted\nname: default\n");

        var export = CliWithEnvironment.Run("runs", "export", "--store", store.Path, "--mlflow-dir", mlruns);
        Assert.True(export.ExitCode == 2, export.ToString());
        Assert.Contains("experiment 'default' is deleted there (.trash/4)", export.StdErr);
        Assert.Equal([".trash"], Directory.GetFileSystemEntries(mlruns).Select(Path.GetFileName));
        Assert.Equal(["4"], Directory.GetFileSystemEntries(Path.Combine(mlruns, ".trash")).Select(Path.GetFileName));
    }

    private static IEnumerable<RunRecord> ChildrenWithDeleted(RunStore local, string id) =>
        local.FindRuns(new RunSelection()).Concat(local.FindRuns(new RunSelection { Deleted = true }))
            .Where(r => r.ParentRunId == id).OrderBy(r => r.StartTime);

    private static void AssertSame(RunStore local, RunRecord run, MlflowFileStoreReader.Run read, string experimentId, string folder)
    {
        Assert.Equal(experimentId, read.ExperimentId);
        Assert.Equal(run.Name, read.Name);
        Assert.Equal(run.Status.ToString().ToUpperInvariant(), read.Status);
        Assert.Equal(run.StartTime.ToUnixTimeMilliseconds(), read.StartTime);
        Assert.Equal(run.EndTime?.ToUnixTimeMilliseconds(), read.EndTime);
        Assert.Equal(run.DeletedTime is null ? "active" : "deleted", read.LifecycleStage);
        Assert.Equal(run.DeletedTime?.ToUnixTimeMilliseconds(), read.DeletedTime);
        Assert.Equal(new Uri(Path.Combine(folder, "artifacts")).AbsoluteUri, read.ArtifactUri);
        Assert.Equal(Environment.UserName, read.UserId);
        Assert.Equal(run.Params.OrderBy(p => p.Key), read.Params.OrderBy(p => p.Key));
        foreach (var (key, value) in run.Tags)
            Assert.Equal(value, read.Tags[key]);
        Assert.Equal(run.Name, read.Tags["mlflow.runName"]);
        Assert.Equal("LOCAL", read.Tags["mlflow.source.type"]);
        Assert.Equal(run.ParentRunId, read.Tags.GetValueOrDefault("mlflow.parentRunId"));
        if (run.Tags.TryGetValue("description", out var description))
            Assert.Equal(description, read.Tags["mlflow.note.content"]);
        Assert.Equal(run.Metrics.Keys.Order(), read.Metrics.Keys.Order());
        foreach (string key in run.Metrics.Keys)
        {
            Assert.Equal(local.GetMetricHistory(run.Id, key).Select(p => (p.Timestamp.ToUnixTimeMilliseconds(), p.Value, p.Step)),
                read.Metrics[key].Select(p => (p.Timestamp, p.Value, p.Step)));
        }
        foreach (string artifact in run.Artifacts)
            Assert.Equal(File.ReadAllBytes(local.ResolveArtifact(run.Id, artifact)), File.ReadAllBytes(Path.Combine(folder, "artifacts", artifact)));
    }
}
