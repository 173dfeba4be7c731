using Distill.Cli.Tests.Mlflow;

namespace Distill.Cli.Tests;

/// <summary>A registered artifact later replaced by a symbolic link out of the run's folder (a file, or a folder above
/// it): `runs download` and `runs export --mlflow-dir` refuse with exit 2 and write nothing; `runs sync` uploads the
/// other artifacts and warns about that one.</summary>
public sealed class ArtifactSymlinkCliTests
{
    /// <summary>A finished run and, outside its store, a secrets folder holding a student.ckpt.</summary>
    private static (string Store, string RunId, string RunFolder, string Secret) TrainedRun(TempDir dir)
    {
        var run = TinyDigitsRun.Train(dir);
        string secrets = dir.File("secrets");
        Directory.CreateDirectory(secrets);
        File.WriteAllText(Path.Combine(secrets, "student.ckpt"), "not yours");
        return (run.Store, run.RunId, run.RunFolder, Path.Combine(secrets, "student.ckpt"));
    }

    [Fact]
    public void Download_and_mlflow_dir_export_refuse_a_link_out_of_the_run_and_write_nothing()
    {
        using var dir = new TempDir();
        var (store, runId, runFolder, secret) = TrainedRun(dir);
        string recipe = Path.Combine(runFolder, "recipe.yaml");
        File.Delete(recipe);
        File.CreateSymbolicLink(recipe, secret);

        var download = CliProcess.Run("runs", "download", runId, "recipe.yaml", "--out", dir.File("out"), "--store", store);
        Assert.True(download.ExitCode == 2, download.ToString());
        Assert.Contains($"artifact 'recipe.yaml' in {runFolder} is a symbolic link, or lies in a linked folder, that leads outside it (to {secret})",
            download.StdErr);
        Assert.False(Directory.Exists(dir.File("out")));

        // A linked folder above the artifact: models -> the secrets folder, which has a student.ckpt.
        File.Delete(recipe);
        Directory.Move(Path.Combine(runFolder, "models"), Path.Combine(runFolder, "models.real"));
        Directory.CreateSymbolicLink(Path.Combine(runFolder, "models"), Path.GetDirectoryName(secret)!);
        var folder = CliProcess.Run("runs", "download", runId, "models", "--out", dir.File("out"), "--store", store);
        Assert.True(folder.ExitCode == 2, folder.ToString());
        Assert.Contains($"artifact 'models/student.ckpt' in {runFolder} is a symbolic link, or lies in a linked folder", folder.StdErr);
        Assert.False(Directory.Exists(dir.File("out")));

        var export = CliProcess.Run("runs", "export", runId, "--mlflow-dir", dir.File("mlruns"), "--store", store);
        Assert.True(export.ExitCode == 2, export.ToString());
        Assert.Contains("models/student.ckpt", export.StdErr);
        Assert.False(Directory.Exists(dir.File("mlruns")));
        Assert.Equal("not yours", File.ReadAllText(secret));
    }

    [Fact]
    public void Sync_skips_a_link_out_of_the_run_with_a_warning_and_sends_the_rest()
    {
        using var dir = new TempDir();
        var (store, runId, runFolder, secret) = TrainedRun(dir);
        string student = Path.Combine(runFolder, "models", "student.ckpt");
        File.Delete(student);
        File.CreateSymbolicLink(student, secret);

        using var server = new FakeMlflowServer();
        var sync = CliWithEnvironment.Run("runs", "sync", runId, "--store", store, "--to", server.Uri);
        Assert.True(sync.ExitCode == 0, sync.ToString());
        Assert.Contains("artifact 'models/student.ckpt'", sync.StdErr);
        Assert.Contains("symbolic link", sync.StdErr);
        var remote = Assert.Single(server.Runs, r => r.Tags.GetValueOrDefault("distill.run_id") == runId);
        Assert.Equal("FINISHED", remote.Status);
        var uploaded = server.ArtifactPaths;
        Assert.Contains($"{remote.ExperimentId}/{remote.Id}/artifacts/recipe.yaml", uploaded);
        Assert.DoesNotContain(uploaded, p => p.EndsWith("student.ckpt", StringComparison.Ordinal));
    }
}
