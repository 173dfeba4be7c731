using Distill.Core.Distillation;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>teacher.ensemble: binding (each member with the position Core names when its file does not fit the data) and
/// the errors at the recipe's line and column. The validator only checks that a member's file exists (any file of the
/// data folder will do); Core checks its contents.</summary>
public sealed class TeacherEnsembleRecipeTests : IDisposable
{
    private const string Labels = "fashion-mnist/t10k-labels-idx1-ubyte.gz";
    private const string Images = "fashion-mnist/t10k-images-idx3-ubyte.gz";

    private readonly string _folder = Directory.CreateTempSubdirectory("distill-ensemble-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>A checkpoint and an ONNX file with options.</summary>
    private const string TwoMembers = $$"""
            - checkpoint: {{Labels}}
            - onnx: {{Images}}
              threads: 2
              input: { preprocess: { mean: [0.5], std: [0.25] } }
        """;

    /// <summary>Minimal with an ensemble; appended "    key: value" lines belong to its stage.</summary>
    private static string WithEnsemble(string members = TwoMembers, string teacherKeys = "") =>
        Minimal.Replace("stages:", $"teacher:\n{teacherKeys}  ensemble:\n{members.TrimEnd('\n')}\nstages:", StringComparison.Ordinal);

    /// <summary>Line and column (1-based) of the first <paramref name="needle"/> at or after the first <paramref name="after"/>.</summary>
    private static (int Line, int Column) Find(string yaml, string needle, string after = "")
    {
        int index = yaml.IndexOf(needle, yaml.IndexOf(after, StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.True(index >= 0, $"'{needle}' not in the recipe");
        int lineStart = yaml.LastIndexOf('\n', Math.Max(0, index - 1)) + 1;
        return (yaml[..index].Count(c => c == '\n') + 1, index - lineStart + 1);
    }

    private static void AssertAt(RecipeError error, (int Line, int Column) at, string message) =>
        Recipes.AssertAt(error, at.Line, at.Column, message);

    [Fact]
    public void Binds_each_member_with_where_its_file_was_written()
    {
        string yaml = WithEnsemble() + "\n    loss: { kd: {} }";
        var plan = Load(yaml);
        Assert.Null(plan.Teacher);
        Assert.Null(plan.OnnxTeacher);
        var members = plan.TeacherEnsemble!.Members;
        Assert.Equal(2, members.Count);
        Assert.Equal(($"{DataDir}/{Labels}", (OnnxTeacherOptions?)null), (members[0].Checkpoint, members[0].Onnx));
        var at = Find(yaml, Labels, after: "ensemble:");
        Assert.Equal($"recipe.yaml:{at.Line}:{at.Column}", members[0].Where);
        Assert.Null(members[1].Checkpoint);
        var onnx = members[1].Onnx!;
        Assert.Equal(($"{DataDir}/{Images}", 2, 256, TeacherInputLayout.Nchw), (onnx.Path, onnx.Threads, onnx.BatchSize, onnx.Layout));
        Assert.Equal([0.5], onnx.Mean!);
        Assert.Equal([0.25], onnx.Std!);
        at = Find(yaml, Images, after: "ensemble:");
        Assert.Equal($"recipe.yaml:{at.Line}:{at.Column}", members[1].Where);
        Assert.Equal($"{DataDir}/{Labels}", plan.Params["teacher.ensemble.0.checkpoint"]);
        Assert.Equal("2", plan.Params["teacher.ensemble.1.threads"]);

        // The resolved recipe (recorded with the run) reloads to the same ensemble.
        var again = Load(plan.ResolvedRecipe).TeacherEnsemble!.Members;
        Assert.Equal((members[0].Checkpoint, members[1].Onnx!.Path, 2), (again[0].Checkpoint, again[1].Onnx!.Path, again[1].Onnx!.Threads));
    }

    [Fact]
    public void One_member_is_too_few()
    {
        string yaml = WithEnsemble($"    - checkpoint: {Labels}\n");
        AssertAt(Single(yaml), Find(yaml, "- checkpoint"), "teacher.ensemble: needs at least 2 items, got 1");
    }

    [Fact]
    public void A_member_is_a_checkpoint_or_an_onnx_file_not_both_nor_neither()
    {
        string yaml = WithEnsemble($"    - checkpoint: {Labels}\n      onnx: {Images}\n    - threads: 2\n");
        var errors = Errors(yaml);
        Assert.Equal(3, errors.Count);
        AssertAt(errors[0], Find(yaml, "onnx:"), "teacher.ensemble[0]: give either checkpoint (a model checkpoint) or onnx (an ONNX file), not both");
        AssertAt(errors[1], Find(yaml, "threads"), "teacher.ensemble[1]: needs checkpoint (a model checkpoint, e.g. runs:/<run>/models/teacher.ckpt) or onnx (an ONNX file)");
        AssertAt(errors[2], Find(yaml, "threads"), "teacher.ensemble[1].threads: only for an ONNX member (onnx)");
    }

    [Fact]
    public void The_ensemble_excludes_the_keys_of_a_single_teacher()
    {
        string yaml = WithEnsemble(teacherKeys: $"  model: {{ arch: mlp }}\n  checkpoint: {Labels}\n  onnx: {Images}\n  threads: 2\n");
        var errors = Errors(yaml);
        Assert.Equal(4, errors.Count);
        foreach (var (error, key) in errors.Zip(new[] { "model", "checkpoint", "onnx", "threads" }))
            AssertAt(error, Find(yaml, $"{key}:", after: "teacher:"), $"teacher.{key}: not with teacher.ensemble; each member of an ensemble is a checkpoint or an ONNX file of its own");
    }

    [Fact]
    public void A_hint_loss_is_refused_at_its_key()
    {
        string yaml = WithEnsemble() + "\n    loss: { kd: {}, hint: { student_tap: hidden0, teacher_tap: hidden1 } }";
        AssertAt(Single(yaml), Find(yaml, "hint:"),
            "stages[0].loss.hint: needs a teacher tap, but an ensemble teacher (teacher.ensemble) gives the mean of its members' logits and no taps; use loss.kd");
    }

    [Fact]
    public void Taps_of_an_onnx_member_and_unequal_preprocess_lists_are_errors()
    {
        string yaml = WithEnsemble($"    - checkpoint: {Labels}\n    - onnx: {Images}\n      outputs: {{ taps: {{ b1: block1 }} }}\n      input: {{ preprocess: {{ mean: [0.5], std: [0.25, 0.5] }} }}\n");
        var errors = Errors(yaml);
        Assert.Equal(2, errors.Count);
        AssertAt(errors[0], Find(yaml, "taps:"), "teacher.ensemble[1].outputs: 'taps' is not allowed here: an ensemble has no taps");
        AssertAt(errors[1], Find(yaml, "[0.25"), "teacher.ensemble[1].input.preprocess.std: has 2 entries but mean has 1");
    }

    [Fact]
    public void A_text_recipe_takes_no_ensemble()
    {
        string corpus = Path.Combine(_folder, "corpus.txt");
        File.WriteAllText(corpus, "It is a truth universally acknowledged.");
        string yaml = $$"""
            name: t
            data: { format: text, path: {{corpus}} }
            teacher:
              ensemble:
                - checkpoint: {{Labels}}
                - checkpoint: {{Labels}}
            student:
              model: { arch: transformer-lm, layers: 1, d_model: 32, heads: 2 }
            stages:
              - name: s
                loss: { kd: {} }
            """;
        AssertAt(Single(yaml), Find(yaml, "ensemble:"),
            "teacher.ensemble: only for classifiers (image and tabular data); a language-model recipe (data.format: text) takes one teacher");
    }

    [Fact]
    public void A_runs_reference_of_a_member_becomes_its_file()
    {
        var (store, runId) = StoreWithRun(_folder, "digits-kd", "models/teacher.ckpt");
        string yaml = WithEnsemble($"    - checkpoint: {Labels}\n    - checkpoint: runs:/digits-kd/models/teacher.ckpt\n");
        var lookup = new RunReferenceLookup { StoreDirectory = _ => store };
        var plan = RecipeLoader.LoadText(yaml, "recipe.yaml", DataDir, references: lookup);
        string file = Path.Combine(store, "artifacts", runId, "models", "teacher.ckpt");
        Assert.Equal(file, plan.TeacherEnsemble!.Members[1].Checkpoint);
        Assert.Equal(file, plan.Params["teacher.ensemble.1.checkpoint"]);
        var at = Find(yaml, "runs:/");
        Assert.Equal($"recipe.yaml:{at.Line}:{at.Column}", plan.TeacherEnsemble.Members[1].Where);
        var (key, _, resolved) = Assert.Single(lookup.Resolved);
        Assert.Equal(("teacher.ensemble[1].checkpoint", runId), (key, resolved.Run.Id));
    }
}
