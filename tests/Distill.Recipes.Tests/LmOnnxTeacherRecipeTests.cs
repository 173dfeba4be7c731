using Distill.Core;

namespace Distill.Recipes.Tests;

/// <summary>teacher.onnx in a text recipe: an ONNX language model serves KD (with or without the top-k cache); its
/// input options, taps and the losses that need its hidden states are errors at the recipe's line:column. The
/// validator only checks that the file exists (the corpus will do); Core checks its contents.</summary>
public class LmOnnxTeacherRecipeTests
{
    private const string Lm = """
        name: t
        data:
          format: text
          path: pride-and-prejudice.txt
        teacher:
          onnx: pride-and-prejudice.txt
        student:
          model: { arch: transformer-lm, layers: 1, d_model: 32, heads: 2 }
        stages:
          - name: s
            loss:
              kd: { temperature: 2, alpha: 0.5 }
        """;

    private static string TextDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (!File.Exists(Path.Combine(dir!.FullName, "Distill.sln")))
                dir = dir.Parent;
            return Path.Combine(dir.FullName, "data", "text");
        }
    }

    private static RunPlan Load(string yaml) => RecipeLoader.LoadText(yaml, "recipe.yaml", TextDir, []);

    private static IReadOnlyList<RecipeError> Errors(string yaml) => Assert.Throws<RecipeException>(() => Load(yaml)).Errors;

    private static (int Line, int Column) Find(string yaml, string needle)
    {
        var lines = yaml.ReplaceLineEndings("\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int at = lines[i].IndexOf(needle, StringComparison.Ordinal);
            if (at >= 0)
                return (i + 1, at + 1);
        }
        throw new ArgumentException($"'{needle}' not in the recipe");
    }

    private static void AssertAt(RecipeError error, (int Line, int Column) at, string message)
    {
        Assert.Equal(("recipe.yaml", at.Line, at.Column), (error.File, error.Line, error.Column));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Kd_from_an_onnx_language_model_binds_with_its_defaults_and_the_cache()
    {
        var plan = Load(Lm.Replace("  onnx: pride-and-prejudice.txt", "  onnx: pride-and-prejudice.txt\n  threads: 2\n  batch_size: 16")
            + "\n      teacher_cache: { top_k: 8 }");
        Assert.Null(plan.Teacher);
        var onnx = plan.OnnxTeacher!;
        Assert.Equal(Path.Combine(TextDir, "pride-and-prejudice.txt"), onnx.Path);
        Assert.Null(onnx.LogitsOutput);
        Assert.Equal((2, 16), (onnx.Threads, onnx.BatchSize));
        Assert.Empty(onnx.Taps);
        Assert.Equal(8, plan.Stages[0].Loss.Get<Distill.Core.Distillation.KdOptions>()!.TeacherCacheTopK);
        Assert.Equal("logits", Load(Lm.Replace("  onnx: pride-and-prejudice.txt", "  onnx: pride-and-prejudice.txt\n  outputs: { logits: logits }")).OnnxTeacher!.LogitsOutput);
    }

    [Fact]
    public void Input_and_taps_do_not_apply_to_a_language_model_teacher()
    {
        var yaml = Lm.Replace("  onnx: pride-and-prejudice.txt",
            "  onnx: pride-and-prejudice.txt\n  outputs: { taps: { block0: block0 } }\n  input: { layout: nhwc }");
        var errors = Errors(yaml);
        Assert.Equal(2, errors.Count);
        AssertAt(errors.Single(e => e.Message.StartsWith("teacher.input", StringComparison.Ordinal)), Find(yaml, "input:"),
            "teacher.input: not for a language-model teacher");
        AssertAt(errors.Single(e => e.Message.StartsWith("teacher.outputs.taps", StringComparison.Ordinal)), Find(yaml, "taps:"),
            "teacher.outputs.taps: not for a language-model teacher");
    }

    [Fact]
    public void Hint_and_attention_losses_need_hidden_states_an_onnx_teacher_does_not_give()
    {
        var yaml = Lm + "\n      hint: { student_tap: block0, teacher_tap: block1 }\n      attention: { student_block: block0, teacher_block: block1 }";
        var errors = Errors(yaml);
        Assert.Equal(2, errors.Count);
        AssertAt(errors[0], Find(yaml, "hint:"), "stages[0].loss.hint: needs the teacher's hidden states, but an ONNX language-model teacher (teacher.onnx) gives its logits only; use loss.kd");
        AssertAt(errors[1], Find(yaml, "attention:"), "stages[0].loss.attention: needs the teacher's hidden states");
    }
}
