namespace Distill.Cli.Tests;

/// <summary>configs/text/lm-tiny.yaml trained, and its teacher exported with
/// `distill export teacher.ckpt --target onnx-fp32 --data configs/text/lm-tiny.yaml`: the ONNX language model the
/// tests distil from.</summary>
public sealed class ExportedLmTeacherFixture : IDisposable
{
    public ExportedLmTeacherFixture()
    {
        var export = CliProcess.Run(["export", Tiny.Artifact("models/teacher.ckpt"), "--target", "onnx-fp32", "--data", "configs/text/lm-tiny.yaml",
            "--out", Dir.File("teacher")], TimeSpan.FromMinutes(5));
        Assert.True(export.ExitCode == 0, export.ToString());
    }

    public LmTinyRun Tiny { get; } = new();
    public TempDir Dir { get; } = new();
    public string OnnxPath => Dir.File("teacher/model.onnx");

    public void Dispose()
    {
        Tiny.Dispose();
        Dir.Dispose();
    }
}

/// <summary>`teacher: { onnx: … }` in a text recipe: a student distilled from a language model exported to ONNX,
/// with the teacher measured through ONNX Runtime, and the bad inputs that stop with exit code 2 before a run opens.</summary>
public sealed class LmOnnxTeacherTests(ExportedLmTeacherFixture fixture) : IClassFixture<ExportedLmTeacherFixture>
{
    /// <summary>As in <see cref="LmCliTests"/>: uniform bytes are 8 bits per byte, letter frequencies alone about 4.5;
    /// the tiny student (48 steps) must at least learn those.</summary>
    private const double StudentBitsPerByteCeiling = 4.8;

    private static readonly string Corpus = Path.Combine(CliProcess.RepoRoot, "data", "text", "pride-and-prejudice.txt");

    /// <summary>lm-tiny's data, student and distillation stage, with the teacher given as an ONNX file.</summary>
    private static string Recipe(string onnx, string tokenizer = "byte", int context = 32, string loss = "teacher_cache: { top_k: 16 }") => $$"""
        name: lm-onnx-teacher
        seed: 11
        data:
          format: text
          path: {{Corpus}}
          tokenizer: {{tokenizer}}
          context: {{context}}
          validation_fraction: 0.1
          max_train_windows: 512
          max_validation_windows: 128
        teacher:
          onnx: {{onnx}}
          batch_size: 20
        student:
          model: { arch: transformer-lm, layers: 1, d_model: 32, heads: 2 }
        stages:
          - name: distil
            epochs: 3
            batch_size: 32
            optimizer: { name: adamw, lr: 0.01 }
            loss:
              kd: { temperature: 2, alpha: 0.5 }
              {{loss}}
        """;

    private static CliResult Train(TempDir dir, string recipe)
    {
        string path = dir.File("recipe.yaml");
        File.WriteAllText(path, recipe);
        return CliProcess.Run(["train", path, "--store", dir.File("store"), "--json", "--threads", "1"], TimeSpan.FromMinutes(5));
    }

    private static void AssertBadInput(TempDir dir, CliResult result, params string[] expected)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        foreach (var text in expected)
            Assert.Contains(text, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
        var list = CliProcess.Run("runs", "list", "--store", dir.File("store"), "--json");
        Assert.DoesNotContain("lm-onnx-teacher", list.StdOut);
    }

    [Fact]
    public void Student_distils_from_the_onnx_teacher_whose_validation_matches_the_checkpoint_teacher()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(fixture.OnnxPath));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);
        Assert.Equal("FINISHED", run.Status);
        Assert.Equal(fixture.Tiny.Run.Metric("teacher/val_bpb"), run.Metric("teacher/val_bpb"), 1e-3);
        Assert.Equal(fixture.Tiny.Run.Metric("teacher/val_cross_entropy"), run.Metric("teacher/val_cross_entropy"), 1e-3);
        Assert.True(run.Metric("student/val_bpb") < StudentBitsPerByteCeiling, $"student {run.Metric("student/val_bpb")} bits/byte");
        Assert.True(run.Metric("student/val_bpb") < 8, "below uniform guessing");
        Assert.Equal(fixture.OnnxPath, run.Tag("teacher.onnx"));
        Assert.Equal("16", run.Tag("distil.teacher_cache_top_k"));
        Assert.False(run.HasMetric("teacher/params"));
        Assert.DoesNotContain("models/teacher.ckpt", run.Artifacts);
        Assert.Contains("models/student.ckpt", run.Artifacts);
    }

    [Fact]
    public void Per_step_kd_without_the_cache_runs_through_onnx_runtime()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(fixture.OnnxPath, loss: "").Replace("epochs: 3", "epochs: 1", StringComparison.Ordinal));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);
        Assert.Equal(fixture.Tiny.Run.Metric("teacher/val_bpb"), run.Metric("teacher/val_bpb"), 1e-3);
        Assert.Null(run.Tag("distil.teacher_cache_top_k"));
        Assert.True(run.Metric("student/val_bpb") < 8, $"student {run.Metric("student/val_bpb")} bits/byte");
    }

    [Fact]
    public void Tokenizer_mismatch_and_a_context_shorter_than_the_data_are_refused_naming_the_file()
    {
        using var dir = new TempDir();
        AssertBadInput(dir, Train(dir, Recipe(fixture.OnnxPath, tokenizer: "char")),
            fixture.OnnxPath, "reads byte tokens (256)", "data.tokenizer is char");
        AssertBadInput(dir, Train(dir, Recipe(fixture.OnnxPath, context: 64)),
            fixture.OnnxPath, "context of 32 tokens, shorter than data.context (64)");
    }

    [Fact]
    public void A_hint_loss_with_an_onnx_language_model_teacher_is_a_recipe_error_at_its_line()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(fixture.OnnxPath, loss: "hint: { student_tap: block0, teacher_tap: block1 }"));
        AssertBadInput(dir, result, "recipe.yaml:23:7", "stages[0].loss.hint: needs the teacher's hidden states");
    }

    [Fact]
    public void An_image_classifiers_onnx_file_is_not_a_language_model_teacher()
    {
        using var dir = new TempDir();
        string digits = Path.Combine(CliProcess.RepoRoot, "configs", "digits", "kd.yaml");
        var train = CliProcess.Run(["train", digits, "--json", "--store", dir.File("digits-store"), "--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=1"],
            TimeSpan.FromMinutes(5));
        Assert.True(train.ExitCode == 0, train.ToString());
        string checkpoint = Path.Combine(dir.File("digits-store"), "artifacts", new RunJsonView(train.StdOut).Id, "models", "teacher.ckpt");
        var export = CliProcess.Run(["export", checkpoint, "--target", "onnx-fp32", "--data", digits, "--out", dir.File("image")], TimeSpan.FromMinutes(5));
        Assert.True(export.ExitCode == 0, export.ToString());
        string image = dir.File("image/model.onnx");

        AssertBadInput(dir, Train(dir, Recipe(image)), image, "not a language-model ONNX file");
    }
}
