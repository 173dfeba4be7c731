using System.Globalization;
using System.Security.Cryptography;
using Distill.Cli.Output;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Tracking;
using Distill.Core.Training;
using Distill.Recipes;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Distill.Cli.Tests;

/// <summary>Real teachers on the shipped digits data: the run of configs/digits/kd.yaml (a teacher MLP trained 8 epochs,
/// a student MLP distilled 1 epoch) and its teacher exported to ONNX (<see cref="ExportedTeacherFixture"/>), and one
/// run that distils from the ensemble of the three: teacher.ckpt and student.ckpt by runs:/ reference, and the ONNX file.</summary>
public sealed class TeacherEnsembleFixture : IDisposable
{
    public TeacherEnsembleFixture()
    {
        Exported = new ExportedTeacherFixture();
        string store = Store;
        RecipePath = Exported.Dir.File("ensemble.yaml");
        File.WriteAllText(RecipePath, Recipe(Members(references: true)));
        var result = CliProcess.Run(["train", RecipePath, "--store", store, "--json"], TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.ToString());
        Run = new RunJsonView(result.StdOut);
    }

    public ExportedTeacherFixture Exported { get; }

    public string Store => Exported.Dir.File("store");

    public string RecipePath { get; }

    public RunJsonView Run { get; }

    public string TeacherCheckpoint => Model("teacher.ckpt");

    public string StudentCheckpoint => Model("student.ckpt");

    private string Model(string file) => Path.Combine(Store, "artifacts", Exported.TeacherRun.Id, "models", file);

    /// <summary>The ONNX member, with the normalisation its teacher was trained with (from the export's model card).</summary>
    public string OnnxMember(string indent = "    ") => string.Create(CultureInfo.InvariantCulture,
        $"{indent}- onnx: {Exported.OnnxPath}\n{indent}  input: {{ preprocess: {{ mean: [{Exported.Mean:R}], std: [{Exported.Std:R}] }} }}\n");

    /// <summary>The kd run's teacher and student checkpoints, then the ONNX file of its teacher.</summary>
    public string Members(bool references) => references
        ? $"    - checkpoint: runs:/{Exported.TeacherRun.Id}/models/teacher.ckpt\n    - checkpoint: runs:/{Exported.TeacherRun.Id}/models/student.ckpt\n" + OnnxMember()
        : $"    - checkpoint: {TeacherCheckpoint}\n    - checkpoint: {StudentCheckpoint}\n" + OnnxMember();

    /// <summary>kd.yaml's data (so the same test split) and student, distilled from the ensemble of <paramref name="members"/>.</summary>
    public string Recipe(string members, string data = "", string loss = "kd: { temperature: 3, alpha: 0.8 }", int epochs = 6) => $$"""
        name: digits-ensemble
        seed: 7
        data:
          format: csv
          train_csv: {{Exported.DataCsv}}
          header: false
          scale: 16
          test_fraction: 0.2
          validation_fraction: 0.1
        {{data}}
        teacher:
          ensemble:
        {{members.TrimEnd('\n')}}
        student:
          model: { arch: mlp, hidden: [32] }
        stages:
          - name: distil
            epochs: {{epochs}}
            batch_size: 64
            optimizer: { name: adam, lr: 0.005 }
            loss:
              {{loss}}
        """;

    public void Dispose() => Exported.Dispose();
}

/// <summary>teacher.ensemble end to end: the ensemble's logits are the mean of its real members' logits (computed here
/// without the ensemble: the checkpoints in TorchSharp, the ONNX file in ONNX Runtime), the run records the ensemble's
/// and each member's test figures and files, resumes, and refuses bad input with exit code 2 at the recipe's line.</summary>
public sealed class TeacherEnsembleTests(TeacherEnsembleFixture fixture) : IClassFixture<TeacherEnsembleFixture>
{
    /// <summary>The data as the ensemble run reads it, and its plan (members by file path).</summary>
    private (DataSplits Data, Core.RunPlan Plan) LoadData()
    {
        string recipe = fixture.Exported.Dir.File("ensemble-files.yaml");
        File.WriteAllText(recipe, fixture.Recipe(fixture.Members(references: false)));
        var plan = RecipeLoader.Load(recipe);
        return (DatasetLoader.Load(plan.Data, plan.BaseDirectory, plan.Seed), plan);
    }

    /// <summary>The members' logits on <paramref name="x"/> (normalised as the data is), each computed on its own.</summary>
    private Tensor[] MemberLogits(Tensor x, Normalization data)
    {
        var logits = new List<Tensor>();
        foreach (string checkpoint in new[] { fixture.TeacherCheckpoint, fixture.StudentCheckpoint })
        {
            var (model, descriptor) = ModelCheckpoint.Load(checkpoint);
            using (model)
            {
                // Trained on this very split: the checkpoint takes the data's normalisation as it is.
                Assert.Equal(data.Mean, descriptor.Normalization!.Mean);
                Assert.Equal(data.Std, descriptor.Normalization.Std);
                model.eval();
                using var noGrad = no_grad();
                logits.Add(model.call(x));
            }
        }
        // The ONNX file takes the features as read, normalised with its model card's mean and std.
        var asRead = x * data.Std[0] + data.Mean[0];
        var input = ((asRead - fixture.Exported.Mean) / fixture.Exported.Std).to_type(ScalarType.Float32).contiguous();
        using var session = new InferenceSession(fixture.Exported.OnnxPath);
        using var value = OrtValue.CreateTensorValueFromMemory(input.data<float>().ToArray(), x.shape);
        using var outputs = session.Run(new RunOptions(), ["input"], [value], ["logits"]);
        logits.Add(tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray(), [x.shape[0], 10]));
        return [.. logits];
    }

    [Fact]
    public void The_ensembles_logits_are_the_mean_of_its_members_logits()
    {
        var (data, plan) = LoadData();
        using (data)
        using (var ensemble = TeacherEnsemble.Load(plan.TeacherEnsemble!, plan.ResolvePath, data.InputShape, data.NumClasses, data.Normalization, CPU))
        using (NewDisposeScope())
        {
            var (x, _) = data.Test.Batch([.. Enumerable.Range(0, 64).Select(i => (long)i)]);
            var members = MemberLogits(x, data.Normalization!);
            var (logits, _) = ensemble.ForwardWithTaps(x, []);
            var mean = (members[0] + members[1] + members[2]) / 3;
            Assert.True((logits - mean).abs().max().item<float>() <= 1e-6, $"max difference {(logits - mean).abs().max().item<float>()}");
            // The members disagree, so the mean is none of them.
            Assert.True((members[0] - members[1]).abs().max().item<float>() > 0.1);
        }
    }

    [Fact]
    public void The_run_records_the_figures_of_the_mean_logits_each_members_and_their_files()
    {
        var run = fixture.Run;
        Assert.Equal("FINISHED", run.Status);
        var (data, _) = LoadData();
        using (data)
        using (NewDisposeScope())
        {
            var members = MemberLogits(data.Test.Features, data.Normalization!);
            var mean = (members[0] + members[1] + members[2]) / 3;
            double accuracy = mean.argmax(1).eq(data.Test.Labels).sum().item<long>() / (double)data.Test.Count;
            double loss = nn.functional.cross_entropy(mean, data.Test.Labels).item<float>();
            Assert.Equal(accuracy, run.Metric("teacher/test_acc"));
            Assert.Equal(loss, run.Metric("teacher/test_loss"), 4);
        }
        // The members are the kd run's own models, measured on the same test split.
        var kd = fixture.Exported.TeacherRun;
        Assert.Equal(kd.Metric("teacher/test_acc"), run.Metric("teacher/member0/test_acc"));
        Assert.Equal(kd.Metric("student/test_acc"), run.Metric("teacher/member1/test_acc"));
        Assert.True(Math.Abs(kd.Metric("teacher/test_acc") - run.Metric("teacher/member2/test_acc")) <= 0.001);
        Assert.Equal(kd.Metric("teacher/params"), run.Metric("teacher/member0/params"));
        Assert.False(run.HasMetric("teacher/params")); // an ONNX member's parameter count is not known

        string[] files = [fixture.TeacherCheckpoint, fixture.StudentCheckpoint, fixture.Exported.OnnxPath];
        Assert.Equal("3", run.Tag("teacher.ensemble"));
        for (int i = 0; i < files.Length; i++)
        {
            Assert.Equal(files[i], run.Tag($"teacher.member{i}"));
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(files[i]))), run.Tag($"teacher.member{i}.sha256"));
            Assert.Equal(new FileInfo(files[i]).Length, run.Metric($"teacher/member{i}/size_bytes"));
        }
        Assert.Equal(files.Sum(f => new FileInfo(f).Length), run.Metric("teacher/size_bytes"));
        Assert.Equal(files[0], run.Param("teacher.ensemble.0.checkpoint"));
        Assert.DoesNotContain("models/teacher.ckpt", run.Artifacts);
        Assert.True(run.Metric("student/test_acc") >= 0.85, $"student accuracy {run.Metric("student/test_acc"):P2}");
    }

    [Fact]
    public void The_summary_table_shows_the_teacher_as_the_ensemble_with_a_row_per_member()
    {
        using var store = RunStore.Open(fixture.Store);
        var rows = SummaryTable.ModelRows(store.GetRun(fixture.Run.Id));
        Assert.Equal(["teacher (ensemble of 3)", "  member 0", "  member 1", "  member 2", "student"], rows.Select(r => r[0]));
        string Percent(string key) => MetricFormat.Percent(fixture.Run.Metric(key));
        Assert.Equal(Percent("teacher/test_acc"), rows[0][4]);
        Assert.Equal(Percent("teacher/member1/test_acc"), rows[2][4]);
        Assert.Equal("50,826", rows[1][1]);
        Assert.Equal("-", rows[3][1]);
    }

    [Fact]
    public void A_run_killed_mid_stage_resumes_to_the_same_student_loading_the_members_again()
    {
        using var dir = new TempDir();
        string recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, fixture.Recipe(fixture.Members(references: false)));
        string runId = CliProcess.KillAfter(["train", recipe], dir.File("store"), "[distil] epoch 2/");
        var resumed = CliProcess.Run(["train", "--resume", runId, "--store", dir.File("store"), "--json"], TimeSpan.FromMinutes(5));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var run = new RunJsonView(resumed.StdOut);
        // Bit-for-bit on the CPU: the same student as the uninterrupted run's (its members were referenced by runs:/, the same files).
        Assert.Equal(fixture.Run.Metric("student/test_acc"), run.Metric("student/test_acc"));
        Assert.Equal(fixture.Run.Metric("student/test_loss"), run.Metric("student/test_loss"));
        Assert.Equal(fixture.Run.Metric("teacher/test_acc"), run.Metric("teacher/test_acc"));
        Assert.Equal(fixture.TeacherCheckpoint, run.Tag("teacher.member0"));
    }

    public static TheoryData<string, string, string> RecipeErrors => new()
    {
        // What to change in the recipe (members | data | loss), the text the error is at, and the error.
        { "members:    - checkpoint: {ckpt}\n", "- checkpoint", "teacher.ensemble: needs at least 2 items, got 1" },
        { "members:    - checkpoint: {ckpt}\n      onnx: {onnx}\n    - checkpoint: {ckpt}\n", "onnx:", "teacher.ensemble[0]: give either checkpoint (a model checkpoint) or onnx (an ONNX file), not both" },
        { "members:    - checkpoint: {ckpt}\n    - threads: 2\n", "threads", "teacher.ensemble[1]: needs checkpoint (a model checkpoint, e.g. runs:/<run>/models/teacher.ckpt) or onnx (an ONNX file)" },
        { "loss:kd: {}\n      hint: { student_tap: hidden0, teacher_tap: hidden1 }", "hint:", "stages[0].loss.hint: needs a teacher tap, but an ensemble teacher (teacher.ensemble) gives the mean of its members' logits and no taps; use loss.kd" },
        { "data:  augment: { max_shift: 1 }", "true", "stages[0].cache_teacher: a teacher cache cannot serve augmented views" },
    };

    [Theory]
    [MemberData(nameof(RecipeErrors))]
    public void Bad_ensemble_recipes_exit_2_at_the_recipe_line(string change, string at, string message)
    {
        string ckpt = fixture.TeacherCheckpoint;
        string members = $"    - checkpoint: {ckpt}\n" + fixture.OnnxMember();
        string data = "", loss = "kd: { temperature: 3, alpha: 0.8 }";
        string what = change[..change.IndexOf(':', StringComparison.Ordinal)];
        string text = change[(what.Length + 1)..].Replace("{ckpt}", ckpt, StringComparison.Ordinal).Replace("{onnx}", fixture.Exported.OnnxPath, StringComparison.Ordinal);
        if (what == "members")
            members = text;
        else if (what == "loss")
            loss = text;
        string recipe = fixture.Recipe(members, data: what == "data" ? text : data, loss: loss);
        if (what == "data")
            recipe += "\n    cache_teacher: true"; // the last "true" of the recipe
        AssertBadInput(recipe, at, message);
    }

    [Fact]
    public void An_ensemble_in_a_text_recipe_exits_2_at_its_line()
    {
        string corpus = Path.Combine(CliProcess.RepoRoot, "data", "text", "pride-and-prejudice.txt");
        string recipe = $$"""
            name: text-ensemble
            data: { format: text, path: {{corpus}} }
            teacher:
              ensemble:
                - checkpoint: {{fixture.TeacherCheckpoint}}
                - checkpoint: {{fixture.StudentCheckpoint}}
            student:
              model: { arch: transformer-lm, layers: 1, d_model: 32, heads: 2 }
            stages:
              - name: s
                loss: { kd: {} }
            """;
        AssertBadInput(recipe, "ensemble:", "teacher.ensemble: only for classifiers (image and tabular data); a language-model recipe (data.format: text) takes one teacher");
    }

    [Fact]
    public void A_member_whose_classes_differ_from_the_datas_exits_2_at_its_line()
    {
        string members = $"    - checkpoint: {fixture.TeacherCheckpoint}\n" + fixture.OnnxMember();
        AssertBadInput(fixture.Recipe(members, data: "  num_classes: 12"), "/",
            $"teacher.ensemble[0]: {fixture.TeacherCheckpoint}: checkpoint holds an mlp with hidden [256, 128] on input [64] with 10 classes, " +
            "but the data (and the student) have 12 classes: a teacher's logits must be the student's classes");
    }

    [Fact]
    public void A_member_whose_input_shape_differs_from_the_datas_exits_2_at_its_line()
    {
        // The ONNX member first: ONNX Runtime's view of the file, at the member's line.
        string onnxFirst = fixture.OnnxMember() + $"    - checkpoint: {fixture.TeacherCheckpoint}\n";
        AssertBadInput(fixture.Recipe(onnxFirst, data: "  image_shape: [1, 8, 8]"), "/",
            $"teacher.ensemble[0]: ONNX model '{fixture.Exported.OnnxPath}': input 'input' takes [?,64]", "the data's sample shape is [1,8,8]");
        string checkpointFirst = $"    - checkpoint: {fixture.TeacherCheckpoint}\n" + fixture.OnnxMember();
        AssertBadInput(fixture.Recipe(checkpointFirst, data: "  image_shape: [1, 8, 8]"), "/",
            $"teacher.ensemble[0]: {fixture.TeacherCheckpoint}: checkpoint holds an mlp with hidden [256, 128] on input [64] with 10 classes, " +
            "but the data's samples are [1, 8, 8]: a teacher must take the student's input");
    }

    /// <summary>Trains <paramref name="recipeText"/> into a fresh store: exit code 2, the message at the recipe's
    /// file:line:column of the first <paramref name="at"/> after "ensemble:" (or the last in the recipe), and no run.</summary>
    private static void AssertBadInput(string recipeText, string at, params string[] messages)
    {
        using var dir = new TempDir();
        string recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, recipeText);
        var result = CliProcess.Run(["train", recipe, "--store", dir.File("store")], TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 2, result.ToString());
        int after = recipeText.IndexOf("ensemble:", StringComparison.Ordinal);
        int index = recipeText.IndexOf(at, after, StringComparison.Ordinal);
        if (at == "true")
            index = recipeText.LastIndexOf(at, StringComparison.Ordinal);
        int lineStart = recipeText.LastIndexOf('\n', index) + 1;
        string position = $"{recipe}:{recipeText[..index].Count(c => c == '\n') + 1}:{index - lineStart + 1}: ";
        Assert.Contains(position + messages[0], result.StdErr);
        foreach (string message in messages.Skip(1))
            Assert.Contains(message, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
        Assert.Equal("[]", CliProcess.Run("runs", "list", "--store", dir.File("store"), "--json").StdOut.Trim());
    }
}
