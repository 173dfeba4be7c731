namespace Distill.Cli.Tests;

/// <summary>`distill train` end to end on the shipped optical-digits data: real training, real store.</summary>
public sealed class TrainCommandTests
{
    private const string DigitsRecipe = "configs/digits/kd.yaml";

    [Fact]
    public void Digits_recipe_trains_teacher_and_distils_student_and_reports_json()
    {
        using var store = new TempDir();
        var result = CliProcess.Run("train", DigitsRecipe, "--store", store.Path, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());

        var run = new RunJsonView(result.StdOut);
        Assert.Equal("FINISHED", run.Status);
        Assert.Equal("digits-kd", run.Name);
        Assert.True(run.Metric("teacher/test_acc") > 0.93, $"teacher accuracy {run.Metric("teacher/test_acc")}");
        Assert.True(run.Metric("student/test_acc") > 0.88, $"student accuracy {run.Metric("student/test_acc")}");
        Assert.True(run.Metric("student/params") * 10 <= run.Metric("teacher/params"));
        Assert.True(run.Metric("student/test_loss") > 0);
        Assert.True(run.Metric("val/acc") > 0.85);
        Assert.True(run.HasMetric("train/loss"));
        Assert.Contains("models/student.ckpt", run.Artifacts);
        Assert.Contains("models/teacher.ckpt", run.Artifacts);
        Assert.Contains("checkpoints/last.ckpt", run.Artifacts);
        Assert.Contains("recipe.yaml", run.Artifacts);
        Assert.Contains("logs/run.jsonl", run.Artifacts);
        Assert.Equal("0.8", run.Param("stages.0.loss.kd.alpha"));
        Assert.NotNull(run.Tag("data.fingerprint"));

        // The per-run JSON log is real structured Serilog output.
        var log = File.ReadAllLines(Path.Combine(store.Path, "artifacts", run.Id, "logs", "run.jsonl"));
        Assert.Contains(log, line => line.Contains("\"@mt\"", StringComparison.Ordinal) && line.Contains("finished", StringComparison.Ordinal));

        // runs show --json prints the same object, found by a prefix of the id.
        var shown = CliProcess.Run("runs", "show", run.Id[..10], "--store", store.Path, "--json");
        Assert.True(shown.ExitCode == 0, shown.ToString());
        var again = new RunJsonView(shown.StdOut);
        Assert.Equal(run.Id, again.Id);
        Assert.Equal(run.Metric("student/test_acc"), again.Metric("student/test_acc"));

        // The saved student evaluates to the same accuracy through `distill eval`.
        var eval = CliProcess.Run("eval", Path.Combine(store.Path, "artifacts", run.Id, "models", "student.ckpt"),
            "--data", DigitsRecipe, "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Contains($"\"accuracy\": {run.Metric("student/test_acc").ToString(System.Globalization.CultureInfo.InvariantCulture)}", eval.StdOut);
    }

    [Fact]
    public void Same_seed_gives_bit_identical_results()
    {
        using var store = new TempDir();
        string[] args = ["train", DigitsRecipe, "--store", store.Path, "--json", "--set", "teacher.train.epochs=2", "--set", "stages[0].epochs=2"];
        var first = CliProcess.Run(args);
        var second = CliProcess.Run(args);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        var a = new RunJsonView(first.StdOut);
        var b = new RunJsonView(second.StdOut);
        Assert.NotEqual(a.Id, b.Id);
        foreach (var key in new[] { "teacher/test_loss", "student/test_loss", "student/test_acc", "train/loss", "val/loss" })
            Assert.Equal(a.Metric(key), b.Metric(key));
    }

    [Fact]
    public void Summary_table_names_both_models_and_the_run()
    {
        using var store = new TempDir();
        var result = CliProcess.Run("train", DigitsRecipe, "--store", store.Path,
            "--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=1");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("teacher", result.StdOut);
        Assert.Contains("student", result.StdOut);
        Assert.Contains("test acc", result.StdOut);
        Assert.Matches("run [0-9a-f]{32}", result.StdOut);
        Assert.Contains("[distil] epoch 1/1", result.StdErr);
    }

    [Fact]
    public void Diverging_loss_fails_the_run_naming_stage_epoch_and_step()
    {
        using var store = new TempDir();
        var result = CliProcess.Run("train", DigitsRecipe, "--store", store.Path,
            "--set", "teacher.train.epochs=1",
            "--set", "stages[0].optimizer.name=sgd", "--set", "stages[0].optimizer.lr=1e30");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Matches("loss is (NaN|∞|-∞|Infinity|-Infinity) in stage 'distil', epoch 1, step \\d+", result.StdErr);

        var list = CliProcess.Run("runs", "list", "--store", store.Path, "--json");
        Assert.Contains("\"status\": \"FAILED\"", list.StdOut);
    }
}
