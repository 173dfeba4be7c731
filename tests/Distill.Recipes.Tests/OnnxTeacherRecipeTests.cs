using Distill.Core.Distillation;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>teacher.onnx: binding and the errors at the recipe's line and column. The validator only checks that
/// the file exists (any file of the data folder will do); Core checks its contents.</summary>
public class OnnxTeacherRecipeTests
{
    private const string OnnxFile = "fashion-mnist/t10k-labels-idx1-ubyte.gz";

    /// <summary>Minimal with an ONNX teacher: the teacher is lines 7-12, "stages:" line 13, the stage 14; appended lines are 15 on.</summary>
    private static readonly string WithOnnxTeacher = Minimal.Replace("stages:", $$"""
        teacher:
          onnx: {{OnnxFile}}
          outputs: { logits: scores, taps: { flat: flat, b1: block1 } }
          threads: 2
          batch_size: 64
          input: { name: x, layout: nhwc, preprocess: { mean: [0.5], std: [0.25] } }
        stages:
        """);

    [Fact]
    public void BindsEveryKey()
    {
        var plan = Load(WithOnnxTeacher + "\n    loss: { kd: {}, hint: { student_tap: hidden0, teacher_tap: b1 } }");
        Assert.Null(plan.Teacher);
        var onnx = Assert.IsType<OnnxTeacherOptions>(plan.OnnxTeacher);
        Assert.Equal($"{DataDir}/{OnnxFile}", onnx.Path);
        Assert.Equal("scores", onnx.LogitsOutput);
        Assert.Equal(new Dictionary<string, string> { ["flat"] = "flat", ["b1"] = "block1" }, onnx.Taps);
        Assert.Equal((2, 64, "x", TeacherInputLayout.Nhwc), (onnx.Threads, onnx.BatchSize, onnx.InputName, onnx.Layout));
        Assert.Equal([0.5], onnx.Mean!);
        Assert.Equal([0.25], onnx.Std!);
        Assert.Equal("block1", plan.Params["teacher.outputs.taps.b1"]);

        // The resolved recipe (recorded with the run) reloads to the same teacher.
        var again = Load(plan.ResolvedRecipe).OnnxTeacher!;
        Assert.Equal(onnx.Taps, again.Taps);
        Assert.Equal((onnx.Path, onnx.LogitsOutput, onnx.Threads, onnx.BatchSize, onnx.Layout), (again.Path, again.LogitsOutput, again.Threads, again.BatchSize, again.Layout));
    }

    [Fact]
    public void FreeFormTapNamesGiveParamKeysMlflowAccepts()
    {
        var plan = Load(WithOnnxTeacher.Replace("taps: { flat: flat, b1: block1 }", "taps: { \"enc/layer 1\": a, \"x[0]:y\": b, b1: block1 }",
            StringComparison.Ordinal));
        // '/', ' ', '[', ']' and ':' are written as _x<hex>_; plain names stay as they are.
        Assert.Equal("a", plan.Params["teacher.outputs.taps.enc_x2f_layer_x20_1"]);
        Assert.Equal("b", plan.Params["teacher.outputs.taps.x_x5b_0_x5d__x3a_y"]);
        Assert.Equal("block1", plan.Params["teacher.outputs.taps.b1"]);
        Assert.Equal("a", Load(plan.ResolvedRecipe).Params["teacher.outputs.taps.enc_x2f_layer_x20_1"]);
    }

    [Fact]
    public void DefaultsAreTheOnlyInputAndOutputOneThreadAndBatchesOf256()
    {
        var plan = Load(Minimal.Replace("stages:", $"teacher:\n  onnx: {OnnxFile}\nstages:"));
        var onnx = plan.OnnxTeacher!;
        Assert.Equal((null, null, 1, 256, TeacherInputLayout.Nchw), (onnx.LogitsOutput, onnx.InputName, onnx.Threads, onnx.BatchSize, onnx.Layout));
        Assert.Empty(onnx.Taps);
        Assert.Null(onnx.Mean);
        Assert.DoesNotContain(plan.Params.Keys, k => k.StartsWith("teacher.model", StringComparison.Ordinal));
    }

    [Fact]
    public void OnnxExcludesAZooTeachersKeys()
    {
        var yaml = Minimal.Replace("stages:", $"teacher:\n  onnx: {OnnxFile}\n  model: {{ arch: mlp }}\n  train: {{ epochs: 1 }}\nstages:");
        var errors = Errors(yaml);
        Assert.Equal(2, errors.Count);
        AssertAt(errors[0], 9, 3, "teacher.model: not with teacher.onnx; an ONNX teacher is loaded from its file, neither built nor trained here");
        AssertAt(errors[1], 10, 3, "teacher.train: not with teacher.onnx");
    }

    [Fact]
    public void OnnxKeysNeedOnnx()
    {
        var yaml = Minimal.Replace("stages:", $"teacher:\n  model: {{ arch: mlp }}\n  checkpoint: {OnnxFile}\n  threads: 2\nstages:");
        AssertAt(Single(yaml), 10, 3, "teacher.threads: only for a teacher given as an ONNX file (teacher.onnx)");
    }

    [Fact]
    public void HintTapMustBeDeclaredInOutputsTaps()
    {
        var error = Single(WithOnnxTeacher + "\n    loss: { hint: { student_tap: hidden0, teacher_tap: block2 } }");
        AssertAt(error, 15, 56, "stages[0].loss.hint.teacher_tap: 'block2' is not a tap of the ONNX teacher; declare it in teacher.outputs.taps (declared: flat, b1)");
    }

    [Fact]
    public void MissingFileAndBadValuesAreReportedWhereTheyAre()
    {
        AssertAt(Single(Minimal.Replace("stages:", "teacher:\n  onnx: nowhere.onnx\nstages:")), 8, 9, "teacher.onnx: file not found: /usr/share/datasets/nowhere.onnx");
        AssertAt(Single(Minimal.Replace("stages:", $"teacher:\n  onnx: {OnnxFile}\n  outputs: {{ taps: {{ flat: [1] }} }}\nstages:")), 9, 28,
            "teacher.outputs.taps.flat: expected a string, got a list");
        AssertAt(Single(Minimal.Replace("stages:", $"teacher:\n  onnx: {OnnxFile}\n  input: {{ preprocess: {{ mean: [0.5, 0.5], std: [0.25] }} }}\nstages:")), 9, 49,
            "teacher.input.preprocess.std: has 1 entries but mean has 2");
        AssertAt(Single(Minimal.Replace("stages:", $"teacher:\n  onnx: {OnnxFile}\n  input: {{ layout: nwhc }}\nstages:")), 9, 20,
            "teacher.input.layout: must be one of nchw | nhwc, got 'nwhc'");
    }
}
