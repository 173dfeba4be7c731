using Distill.Core;
using Distill.Core.Distillation;
using Distill.Core.Models;

namespace Distill.Recipes.Tests;

/// <summary>Language-model recipes: data.format text, arch transformer-lm, and the LM loss keys, with their errors
/// at the exact line:column. <see cref="Lm"/> has 11 lines; its stage mapping starts at 11:5, so appended
/// "    key: value" lines are line 12 on and belong to that stage.</summary>
public class LmRecipeTests
{
    private const string Lm = """
        name: t
        data:
          format: text
          path: pride-and-prejudice.txt
        teacher:
          model: { arch: transformer-lm, layers: 2, d_model: 64, heads: 4 }
          train: { epochs: 1 }
        student:
          model: { arch: transformer-lm, layers: 1, d_model: 32, heads: 2 }
        stages:
          - name: s
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

    private static RunPlan Load(string yaml, params string[] overrides) => RecipeLoader.LoadText(yaml, "recipe.yaml", TextDir, overrides);

    private static RecipeError Single(string yaml, params string[] overrides)
    {
        var errors = Assert.Throws<RecipeException>(() => Load(yaml, overrides)).Errors;
        Assert.True(errors.Count == 1, "expected one error, got:\n" + string.Join("\n", errors));
        return errors[0];
    }

    /// <summary>1-based line and column of the first <paramref name="needle"/> at or after line <paramref name="fromLine"/>.</summary>
    private static (int Line, int Column) Find(string yaml, string needle, int fromLine = 1)
    {
        var lines = yaml.ReplaceLineEndings("\n").Split('\n');
        for (int i = fromLine - 1; i < lines.Length; i++)
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
    public void Language_model_recipe_binds_text_data_sizes_and_loss_terms()
    {
        var plan = Load(Lm + """

                loss:
                  kd: { temperature: 2, alpha: 0.7 }
                  teacher_cache: { top_k: 16 }
              - name: hints
                loss:
                  hint: { student_tap: block0, teacher_tap: block1 }
                  hints: [{ student_tap: final, teacher_tap: final, weight: 0.5 }]
                  attention: { student_block: block0, teacher_block: block1, weight: 0.1 }
            """);
        Assert.Equal(Core.Data.DataFormat.Text, plan.Data.Format);
        Assert.Equal(Path.Combine(TextDir, "pride-and-prejudice.txt"), plan.Data.TextPath);
        Assert.Equal(("byte", 128, 0.1, 10, 0), (plan.Data.Text!.Tokenizer, plan.Data.Text.Context, plan.Data.Text.ValidationFraction, plan.Data.Text.Blocks, plan.Data.Text.Stride));
        Assert.Equal(ModelArch.TransformerLm, plan.Student.Model.Arch);
        Assert.Equal((1, 32, 2, 0), (plan.Student.Model.Lm!.Layers, plan.Student.Model.Lm.DModel, plan.Student.Model.Lm.Heads, plan.Student.Model.Lm.DFF));
        Assert.Equal((2, 64, 4), (plan.Teacher!.Model.Lm!.Layers, plan.Teacher.Model.Lm.DModel, plan.Teacher.Model.Lm.Heads));
        Assert.Equal(16, plan.Stages[0].Loss.Get<KdOptions>()!.TeacherCacheTopK);
        Assert.Equal(2.0, plan.Stages[0].Loss.Get<KdOptions>()!.Temperature);
        Assert.Null(plan.Stages[1].Loss.Get<KdOptions>());
        // loss.hint, then loss.hints: one hint term whose adapters are adapter0, adapter1.
        var hints = plan.Stages[1].Loss.Get<HintLossOptions>()!.Hints;
        Assert.Equal(2, hints.Count);
        Assert.Equal(("block0", "block1", 1.0), (hints[0].StudentTap, hints[0].TeacherTap, hints[0].Weight));
        Assert.Equal(("final", "final", 0.5), (hints[1].StudentTap, hints[1].TeacherTap, hints[1].Weight));
        var attention = plan.Stages[1].Loss.Get<AttentionDistillOptions>()!;
        Assert.Equal(("block0", "block1", 0.1), (attention.StudentBlock, attention.TeacherBlock, attention.Weight));
        // Image-only keys are not filled in for a language model, so the resolved recipe lists only what applies.
        Assert.DoesNotContain("normalize", plan.ResolvedRecipe);
        Assert.DoesNotContain("batch_norm", plan.ResolvedRecipe);
        Assert.Contains("tokenizer: byte", plan.ResolvedRecipe);
    }

    [Fact]
    public void Heads_must_divide_d_model()
    {
        string yaml = Lm.Replace("d_model: 32, heads: 2", "d_model: 30, heads: 4");
        AssertAt(Single(yaml), Find(yaml, "4 }", 9), "student.model.heads: must divide d_model (30); 4 heads do not");
    }

    [Fact]
    public void Text_data_needs_transformer_lm_models_and_transformer_lm_needs_text_data()
    {
        string mlp = Lm.Replace("model: { arch: transformer-lm, layers: 1, d_model: 32, heads: 2 }", "model: { arch: mlp, hidden: [32] }");
        AssertAt(Single(mlp), Find(mlp, "mlp"), "student.model.arch: data.format text trains language models; use arch: transformer-lm");

        string image = Recipes.Minimal.Replace("model: { arch: mlp, hidden: [32] }", "model: { arch: transformer-lm }");
        var error = Assert.Throws<RecipeException>(() => Recipes.Load(image)).Errors.Single();
        AssertAt(error, Find(image, "transformer-lm"), "student.model.arch: transformer-lm needs text data (data.format: text)");
    }

    [Fact]
    public void Image_keys_are_refused_under_text_data_and_language_model_sizes_under_image_models()
    {
        string yaml = Lm.Replace("  path: pride-and-prejudice.txt", "  path: pride-and-prejudice.txt\n  normalize: none");
        AssertAt(Single(yaml), Find(yaml, "normalize"), "data.normalize: only allowed when data.format is idx or csv or image_folder");

        string mlp = Recipes.Minimal.Replace("hidden: [32] }", "hidden: [32], layers: 2 }");
        var error = Assert.Throws<RecipeException>(() => Recipes.Load(mlp)).Errors.Single();
        AssertAt(error, Find(mlp, "layers"), "student.model.layers: only allowed when student.model.arch is transformer-lm");
    }

    [Fact]
    public void Language_model_recipe_exports_the_full_recompute_and_the_kv_cache_file()
    {
        var plan = Load(Lm + "\nexport: [{ target: onnx-fp32 }, { target: onnx-fp32-kv }]");
        Assert.Equal([("onnx-fp32", false), ("onnx-fp32-kv", true)], plan.Exports.Select(p => (p.Name, p.KvCache)).ToArray());
    }

    [Fact]
    public void Language_model_export_refuses_latency_runs_at_its_line()
    {
        string yaml = Lm + "\nexport: [{ target: onnx-fp32, latency_runs: 100 }]";
        var error = Single(yaml);
        AssertAt(error, Find(yaml, "100 }"), "export[0].latency_runs: ");
        Assert.Contains("onnx-fp32.yaml: latency_runs / --latency-runs is for classifier exports; a language model's export measures tokens per second", error.Message);
    }

    [Fact]
    public void Text_needs_a_validation_fraction_of_at_most_one_half()
    {
        string yaml = Lm.Replace("  path: pride-and-prejudice.txt", "  path: pride-and-prejudice.txt\n  validation_fraction: 0.6");
        AssertAt(Single(yaml), Find(yaml, "0.6"), "data.validation_fraction: text needs validation text for its metrics: must be in (0, 0.5], got 0.6");
        var overridden = Single(Lm, "data.validation_fraction=0");
        Assert.Equal("<command line>:--set 1", overridden.File);
        Assert.Contains("data.validation_fraction: text needs validation text for its metrics: must be in (0, 0.5], got 0", overridden.Message);
    }

    [Fact]
    public void Missing_corpus_file_is_reported_at_its_path()
    {
        string yaml = Lm.Replace("pride-and-prejudice.txt", "no-such-corpus.txt");
        AssertAt(Single(yaml), Find(yaml, "no-such-corpus.txt"), "data.path: file not found:");
    }

    [Fact]
    public void Teacher_cache_needs_kd_and_no_live_teacher_terms()
    {
        string noKd = Lm + "\n    loss: { teacher_cache: { top_k: 8 } }";
        AssertAt(Single(noKd), (12, 13), "stages[0].loss.teacher_cache: needs kd");

        string withHint = Lm + "\n    loss:\n      kd: {}\n      hints: [{ student_tap: final, teacher_tap: final }]\n      teacher_cache: {}";
        AssertAt(Single(withHint), (15, 7), "stages[0].loss.teacher_cache: hints need the teacher's hidden states at every step");

        string tooMany = Lm + "\n    loss:\n      kd: {}\n      teacher_cache: { top_k: 300 }";
        AssertAt(Single(tooMany), Find(tooMany, "300"), "stages[0].loss.teacher_cache.top_k: must be at most the vocabulary (256 byte tokens), got 300");
    }

    [Fact]
    public void Hint_and_attention_names_must_be_layers_of_the_models()
    {
        string hint = Lm + "\n    loss:\n      kd: {}\n      hints: [{ student_tap: block3, teacher_tap: block1 }]";
        AssertAt(Single(hint), Find(hint, "block3"), "stages[0].loss.hints[0].student_tap: 'block3' is not a student hidden state; valid: embed, block0, final");

        string attention = Lm + "\n    loss:\n      attention: { student_block: block0, teacher_block: final }";
        AssertAt(Single(attention), Find(attention, "final }"), "stages[0].loss.attention.teacher_block: 'final' is not a teacher block; valid: block0, block1");
    }

    [Fact]
    public void Language_model_loss_keys_are_refused_in_image_recipes_and_in_the_teacher_stage()
    {
        string image = Recipes.Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  checkpoint: fashion-mnist/t10k-labels-idx1-ubyte.gz\nstages:")
            + "\n    loss: { kd: {}, teacher_cache: { top_k: 8 } }";
        var error = Assert.Throws<RecipeException>(() => Recipes.Load(image)).Errors.Single();
        AssertAt(error, Find(image, "teacher_cache"), "stages[0].loss.teacher_cache: only for language models (student.model.arch: transformer-lm)");

        string teacherStage = Lm.Replace("train: { epochs: 1 }", "train: { epochs: 1, loss: { teacher_cache: { top_k: 8 } } }");
        AssertAt(Single(teacherStage), Find(teacherStage, "teacher_cache"), "teacher.train.loss: 'teacher_cache' is not allowed here");
    }

    [Fact]
    public void Pruning_quantisation_and_accuracy_early_stop_are_refused_for_language_models()
    {
        string prune = Lm + "\n    prune: { sparsity: 0.5 }";
        AssertAt(Single(prune), (12, 5), "stages[0].prune: not supported for transformer-lm models");

        string early = Lm + "\n    early_stop: { metric: val/acc }";
        AssertAt(Single(early), Find(early, "val/acc"), "stages[0].early_stop.metric: language models have no accuracy; use val/loss");
    }

    [Fact]
    public void Distillation_terms_need_a_teacher()
    {
        string noTeacher = Lm.Replace("teacher:\n  model: { arch: transformer-lm, layers: 2, d_model: 64, heads: 4 }\n  train: { epochs: 1 }\n", "")
            + "\n    loss: { attention: { student_block: block0, teacher_block: block0 } }";
        AssertAt(Single(noTeacher), Find(noTeacher, "attention"), "stages[0].loss.attention: needs a teacher");
    }
}
