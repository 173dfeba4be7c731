using System.Globalization;
using System.Text.Json.Nodes;

namespace Distill.Cli.Tests;

/// <summary>A digits teacher trained by Distill (configs/digits/kd.yaml) and exported with
/// `distill export … --target onnx-fp32 --expose-taps`: the ONNX file the tests use as a teacher.</summary>
public sealed class ExportedTeacherFixture : IDisposable
{
    public ExportedTeacherFixture()
    {
        Dir = new TempDir();
        DataCsv = Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz");
        TeacherRecipe = Path.Combine(CliProcess.RepoRoot, "configs", "digits", "kd.yaml");
        var train = CliProcess.Run(["train", TeacherRecipe, "--json", "--store", Dir.File("store"), "--set", "stages[0].epochs=1"], TimeSpan.FromMinutes(5));
        Assert.True(train.ExitCode == 0, train.ToString());
        TeacherRun = new RunJsonView(train.StdOut);

        string checkpoint = Path.Combine(Dir.Path, "store", "artifacts", TeacherRun.Id, "models", "teacher.ckpt");
        ExportFolder = Dir.File("teacher-onnx");
        var export = CliProcess.Run(["export", checkpoint, "--target", "onnx-fp32", "--data", TeacherRecipe, "--out", ExportFolder, "--expose-taps"],
            TimeSpan.FromMinutes(5));
        Assert.True(export.ExitCode == 0, export.ToString());
        var card = JsonNode.Parse(File.ReadAllText(Path.Combine(ExportFolder, "model_card.json")))!;
        Mean = (double)card["preprocessing"]!["mean"]![0]!;
        Std = (double)card["preprocessing"]!["std"]![0]!;
    }

    public TempDir Dir { get; }
    public string DataCsv { get; }
    public string TeacherRecipe { get; }
    public RunJsonView TeacherRun { get; }
    public string ExportFolder { get; }
    public string OnnxPath => Path.Combine(ExportFolder, "model.onnx");
    public double Mean { get; }
    public double Std { get; }

    public void Dispose() => Dir.Dispose();
}

/// <summary>`teacher: { onnx: … }` end to end: distil from a Distill-exported ONNX teacher (KD and a hint through
/// an exposed tap), and the bad inputs that stop with exit code 2 before a run is opened.</summary>
public sealed class OnnxTeacherTests(ExportedTeacherFixture fixture) : IClassFixture<ExportedTeacherFixture>
{
    private string Recipe(string teacher, string loss = "kd: { temperature: 3, alpha: 0.8 }", string data = "") => $$"""
        name: digits-onnx-teacher
        seed: 7
        data:
          format: csv
          train_csv: {{fixture.DataCsv}}
          header: false
          scale: 16
          test_fraction: 0.2
          validation_fraction: 0.1
        {{data}}
        teacher:
        {{teacher}}
        student:
          model: { arch: mlp, hidden: [32] }
        stages:
          - name: distil
            epochs: 10
            batch_size: 64
            optimizer: { name: adam, lr: 0.005 }
            schedule: { name: cosine }
            loss:
              {{loss}}
        """;

    private string OnnxTeacher(string outputs = "{ taps: { hidden1: hidden1 } }") => string.Create(CultureInfo.InvariantCulture,
        $"  onnx: {fixture.OnnxPath}\n  outputs: {outputs}\n  input: {{ preprocess: {{ mean: [{fixture.Mean:R}], std: [{fixture.Std:R}] }} }}");

    private static CliResult Train(TempDir dir, string recipeText, params string[] extra)
    {
        string recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, recipeText);
        return CliProcess.Run(["train", recipe, "--store", dir.File("store"), .. extra], TimeSpan.FromMinutes(5));
    }

    private static void AssertBadInput(TempDir dir, CliResult result, params string[] expected)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        foreach (var text in expected)
            Assert.Contains(text, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
        var list = CliProcess.Run("runs", "list", "--store", dir.File("store"), "--json");
        Assert.Equal("[]", list.StdOut.Trim());
    }

    [Fact]
    public void Exported_teacher_has_its_taps_as_outputs()
    {
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(fixture.OnnxPath);
        Assert.Equal(["logits", "hidden0", "hidden1"], session.OutputMetadata.Keys.ToArray());
        Assert.Equal([-1, 128], session.OutputMetadata["hidden1"].Dimensions);
    }

    [Fact]
    public void Distils_from_the_onnx_teacher_with_kd_and_a_hint_through_an_onnx_tap()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(OnnxTeacher(), "kd: { temperature: 3, alpha: 0.8 }\n      hint: { student_tap: hidden0, teacher_tap: hidden1, weight: 0.5 }"), "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);
        Assert.Equal("FINISHED", run.Status);

        // The same test split as the teacher's own run: ONNX Runtime's accuracy of the exported file equals the checkpoint's.
        double onnxTeacher = run.Metric("teacher/test_acc");
        double checkpointTeacher = fixture.TeacherRun.Metric("teacher/test_acc");
        Assert.True(Math.Abs(onnxTeacher - checkpointTeacher) <= 0.001, $"ONNX teacher {onnxTeacher:P2}, checkpoint teacher {checkpointTeacher:P2}");
        Assert.True(run.Metric("student/test_acc") >= 0.88, $"student accuracy {run.Metric("student/test_acc"):P2}");
        Assert.Equal(new FileInfo(fixture.OnnxPath).Length, run.Metric("teacher/size_bytes"));
        Assert.Equal(fixture.OnnxPath, run.Tag("teacher.onnx"));
        Assert.Equal(64, run.Tag("teacher.onnx.sha256")!.Length);
        Assert.Equal("hidden1", run.Param("teacher.outputs.taps.hidden1"));
        Assert.DoesNotContain("models/teacher.ckpt", run.Artifacts);
        Assert.Contains("models/student.ckpt", run.Artifacts);
    }

    [Fact]
    public void Named_output_that_does_not_exist_names_the_file_and_lists_its_outputs()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(OnnxTeacher("{ logits: scores }")));
        AssertBadInput(dir, result, $"ONNX model '{fixture.OnnxPath}' has no output 'scores' (teacher.outputs.logits)",
            "its outputs: logits [?,10], hidden0 [?,256], hidden1 [?,128]");
    }

    [Fact]
    public void Tap_that_the_file_lacks_is_bad_input()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(OnnxTeacher("{ taps: { block1: block1 } }")));
        AssertBadInput(dir, result, $"ONNX model '{fixture.OnnxPath}' has no output 'block1' (teacher.outputs.taps.block1)");
    }

    [Fact]
    public void Hint_on_an_undeclared_tap_is_a_recipe_error_at_its_line()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(OnnxTeacher("{ taps: { hidden1: hidden1 } }"), "hint: { student_tap: hidden0, teacher_tap: hidden0 }"));
        AssertBadInput(dir, result, "recipe.yaml:24:", "stages[0].loss.hint.teacher_tap: 'hidden0' is not a tap of the ONNX teacher");
    }

    [Fact]
    public void Logits_width_other_than_the_students_classes_is_bad_input()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(OnnxTeacher("{ logits: hidden1 }")));
        AssertBadInput(dir, result, $"ONNX model '{fixture.OnnxPath}': logits output 'hidden1' gives [batch,128] per batch, but the student has 10 classes");
    }

    [Fact]
    public void Input_shape_that_does_not_fit_the_data_is_bad_input()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(OnnxTeacher(), data: "  image_shape: [1, 8, 8]"));
        AssertBadInput(dir, result, $"ONNX model '{fixture.OnnxPath}': input 'input' takes [?,64]", "the data's sample shape is [1,8,8]");
    }

    [Fact]
    public void Corrupt_file_is_bad_input()
    {
        using var dir = new TempDir();
        string corrupt = dir.File("teacher.onnx");
        File.WriteAllBytes(corrupt, File.ReadAllBytes(fixture.OnnxPath).Take(300).ToArray());
        var result = Train(dir, Recipe($"  onnx: {corrupt}"));
        AssertBadInput(dir, result, $"ONNX Runtime cannot load '{corrupt}'");
    }
}
