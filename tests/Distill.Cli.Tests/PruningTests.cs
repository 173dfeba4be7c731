using System.Globalization;
using System.Text.RegularExpressions;
using Distill.Core.Pruning;
using Distill.Core.Training;

namespace Distill.Cli.Tests;

/// <summary>Pruning end to end through `distill train` on the shipped optical digits: a distil stage, a
/// prune stage, a plain fine-tune stage; the zeros survive later stages, the final model file, a new run
/// that starts from that file, and a crash in the middle of the prune stage.</summary>
public sealed class PruningTests
{
    private static readonly string[] Prune =
    [
        "train", "configs/digits/prune.yaml",
        "--set", "teacher.train.epochs=3", "--set", "stages[0].epochs=4",
        "--set", "stages[1].epochs=4", "--set", "stages[1].prune.end_epoch=3", "--set", "stages[2].epochs=2",
    ];

    // A prune stage long enough (masks fixed after epoch 3, then 37 more epochs) that the kill
    // after its second epoch lands inside it, however fast the machine.
    private static readonly string[] PruneLong =
    [
        "train", "configs/digits/prune.yaml", "--json",
        "--set", "teacher.train.epochs=3", "--set", "stages[0].epochs=4",
        "--set", "stages[1].epochs=40", "--set", "stages[1].prune.end_epoch=3", "--set", "stages[2].epochs=2",
    ];

    private static readonly string[] PruneChannels =
    [
        "train", "configs/digits/prune-channels.yaml", "--json",
        "--set", "teacher.train.epochs=3", "--set", "stages[0].epochs=4", "--set", "stages[2].epochs=3",
    ];

    private static string Digits => Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz");

    /// <summary>Zeros per layer of a sparsity table artifact (layer,shape,params,zeros,sparsity,pruned).</summary>
    private static Dictionary<string, (long Zeros, bool Pruned)> Table(string store, string runId, string artifact) =>
        File.ReadAllLines(Path.Combine(store, "artifacts", runId, artifact)).Skip(1)
            .Select(line => line.Split(','))
            .ToDictionary(c => c[0], c => (long.Parse(c[3], CultureInfo.InvariantCulture), c[5] == "yes"));

    [Fact]
    public void Distil_then_gradual_prune_then_finetune_keeps_eighty_percent_zeros()
    {
        using var store = new TempDir();
        var result = CliProcess.Run([.. Prune, "--store", store.Path], TimeSpan.FromMinutes(10));
        Assert.True(result.ExitCode == 0, result.ToString());
        var runId = Regex.Match(result.StdOut, "run ([0-9a-f]{32})").Groups[1].Value;
        var show = CliProcess.Run("runs", "show", runId, "--store", store.Path, "--json");
        Assert.True(show.ExitCode == 0, show.ToString());
        var run = new RunJsonView(show.StdOut);
        // LibTorch is never asked about NNPACK (on CPUs NNPACK does not support, it logged a line each time).
        Assert.DoesNotContain("NNPACK", result.StdErr);

        Assert.True(run.Metric("student/sparsity") >= 0.79, $"sparsity {run.Metric("student/sparsity")}");
        Assert.True(run.Metric("student/params_nonzero") < run.Metric("student/params") * 0.4,
            $"{run.Metric("student/params_nonzero")} of {run.Metric("student/params")} parameters are non-zero");
        // The teacher is not pruned: trained float weights and biases are never exactly zero.
        Assert.Equal(run.Metric("teacher/params"), run.Metric("teacher/params_nonzero"));

        // The summary shows both counts, and says which one a ratio uses. (Spaces and line breaks normalised: a
        // piped console may wrap long lines.)
        var summary = Regex.Replace(result.StdOut, @"\s+", " ");
        Assert.Contains("non-zero", summary);
        double teacherParams = run.Metric("teacher/params"), studentParams = run.Metric("student/params"), nonZero = run.Metric("student/params_nonzero");
        Assert.Contains(string.Format(CultureInfo.InvariantCulture,
            "student vs teacher: {0:F1}× fewer parameters ({1:N0} vs {2:N0}), {3:F1}× fewer non-zero ({4:N0} vs {2:N0})",
            teacherParams / studentParams, studentParams, teacherParams, teacherParams / nonZero, nonZero), summary);
        Assert.Contains(string.Format(CultureInfo.InvariantCulture, "student pruned: {0:P2} of its pruned layers zero, {1:N0} of 5,386 parameters non-zero",
            run.Metric("student/sparsity"), nonZero), summary);
        Assert.Contains(string.Format(CultureInfo.InvariantCulture, "Student sparsity {0:P2} of its pruned layers: {1:N0} of 5,386 parameters non-zero",
            run.Metric("student/sparsity"), nonZero), result.StdErr);

        // runs pareto can plot either count: here the non-zero one, one point per model.
        var pareto = CliProcess.Run("runs", "pareto", "--x", "*/params_nonzero", "--y", "*/test_acc", "--runs", runId,
            "--store", store.Path, "--out", store.File("pareto.png"), "--json");
        Assert.True(pareto.ExitCode == 0, pareto.ToString());
        var points = System.Text.Json.JsonDocument.Parse(pareto.StdOut).RootElement.GetProperty("points").EnumerateArray()
            .ToDictionary(p => p.GetProperty("x_key").GetString()!, p => p.GetProperty("x").GetDouble());
        Assert.Equal(nonZero, points["student/params_nonzero"]);
        Assert.Equal(teacherParams, points["teacher/params_nonzero"]);

        // A pruned student's file is smaller than the dense one's: 5,386 float parameters are 21,544 bytes, and the
        // zeros of the pruned layers cost a bit each (weights and mask), not 4 bytes and a mask byte.
        Assert.True(run.Metric("student/size_bytes") < 5386 * 4 * 0.6, $"student checkpoint {run.Metric("student/size_bytes")} bytes");
        Assert.True(run.Metric("student/test_acc") > 0.85, $"student accuracy {run.Metric("student/test_acc")}");
        Assert.Contains("pruning/sparsity-prune.csv", run.Artifacts);
        Assert.Contains("pruning/sparsity.csv", run.Artifacts);

        // Every zero the prune stage left is still there after the fine-tune stage (and nothing else was pruned).
        var afterPrune = Table(store.Path, run.Id, "pruning/sparsity-prune.csv");
        var final = Table(store.Path, run.Id, "pruning/sparsity.csv");
        Assert.Equal(["block1.depthwise.weight", "block1.conv.weight", "head.fc0.weight"], final.Where(l => l.Value.Pruned).Select(l => l.Key).ToArray());
        foreach (var (layer, (zeros, pruned)) in afterPrune)
            Assert.True(pruned ? final[layer].Zeros >= zeros && zeros > 0 : final[layer].Zeros == 0, $"{layer}: {zeros} zeros after pruning, {final[layer].Zeros} at the end");

        // distill eval sees the same model: same accuracy on the recipe's test split.
        var model = Path.Combine(store.Path, "artifacts", run.Id, "models", "student.ckpt");
        var eval = CliProcess.Run("eval", model, "--data", "configs/digits/prune.yaml", "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Contains(run.Metric("student/test_acc").ToString("R", CultureInfo.InvariantCulture), eval.StdOut);

        // A new run that starts from the pruned model file keeps its zeros: the masks travel in the file.
        var recipe = store.File("finetune.yaml");
        File.WriteAllText(recipe, $$"""
            name: finetune-pruned
            seed: 3
            data: { format: csv, train_csv: {{Digits}}, header: false, image_shape: [1, 8, 8], scale: 16 }
            student:
              model: { arch: cnn, channels: [16, 32], depthwise: [false, true], hidden: [32] }
              checkpoint: {{model}}
            stages:
              - { name: more, epochs: 2, batch_size: 64, optimizer: { name: adam, lr: 0.003 } }
            """);
        var next = CliProcess.Run("train", recipe, "--store", store.Path, "--json");
        Assert.True(next.ExitCode == 0, next.ToString());
        var continued = new RunJsonView(next.StdOut);
        Assert.Equal(run.Metric("student/sparsity"), continued.Metric("student/sparsity"), 6);
    }

    [Fact]
    public void Channel_pruning_with_shrink_leaves_a_smaller_dense_student()
    {
        using var store = new TempDir();
        var result = CliProcess.Run([.. PruneChannels, "--store", store.Path], TimeSpan.FromMinutes(10));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);

        // Dense: channels [16, 32], hidden [32] = 5,386 parameters. Half of every block's channels and of the
        // hidden units removed: channels [8, 16], hidden [16]:
        // block0 1·8·9 + 16 = 88; block1 depthwise 8·9 + 16, pointwise 8·16 + 32 = 248;
        // head.fc0 (16·2·2)·16 + 16 = 1,040; head.out 16·10 + 10 = 170.
        Assert.Equal(88 + 248 + 1040 + 170, run.Metric("student/params"));
        Assert.Equal(1546, run.Metric("student/params_nonzero"));
        Assert.Equal(5386, run.Metric("student/params_before_shrink"));
        Assert.Contains("Student shrunk: 1,546 of 5,386 parameters kept (its pruned channels removed); no zeros left in its pruned layers", result.StdErr);
        Assert.DoesNotContain("sparsity 0.00 %", result.StdErr);
        Assert.True(run.Metric("student/test_acc") > 0.8, $"student accuracy {run.Metric("student/test_acc")}");
        Assert.Contains("shrunk the student from 5,386 to 1,546 parameters", result.StdErr);

        var model = Path.Combine(store.Path, "artifacts", run.Id, "models", "student.ckpt");
        var eval = CliProcess.Run("eval", model, "--data", "configs/digits/prune-channels.yaml", "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Contains(run.Metric("student/test_acc").ToString("R", CultureInfo.InvariantCulture), eval.StdOut);
    }

    [Fact]
    public void Run_killed_in_the_middle_of_a_prune_stage_resumes_with_its_masks_to_the_uninterrupted_result()
    {
        using var referenceStore = new TempDir();
        var reference = CliProcess.Run([.. PruneLong, "--store", referenceStore.Path], TimeSpan.FromMinutes(10));
        Assert.True(reference.ExitCode == 0, reference.ToString());
        var expected = new RunJsonView(reference.StdOut);

        using var store = new TempDir();
        string runId = CliProcess.KillAfter(PruneLong, store.Path, "[prune] epoch 2/");

        var (header, sections) = TrainingCheckpoint.Read(Path.Combine(store.Path, "artifacts", runId, "checkpoints", "last.ckpt"));
        Assert.Equal("prune", header.PhaseName);
        Assert.InRange(header.Phase.EpochsCompleted, 1, 39);
        Assert.True(sections.ContainsKey(MaskSet.Section), "the checkpoint holds the masks");

        var resumed = CliProcess.Run(["train", "--resume", runId, "--store", store.Path, "--json"], TimeSpan.FromMinutes(10));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var actual = new RunJsonView(resumed.StdOut);
        foreach (var key in new[] { "student/sparsity", "student/params_nonzero", "student/test_acc", "student/test_loss", "train/loss", "val/loss" })
            Assert.True(expected.Metric(key) == actual.Metric(key), $"{key}: uninterrupted {expected.Metric(key)}, resumed {actual.Metric(key)}");
    }

    private static CliResult TrainInline(TempDir dir, string stages)
    {
        var recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, $$"""
            name: bad-prune
            data: { format: csv, train_csv: {{Digits}}, header: false, image_shape: [1, 8, 8], scale: 16 }
            student:
              model: { arch: cnn, channels: [8, 6], hidden: [16] }
            stages:
            {{stages}}
            """);
        return CliProcess.Run("train", recipe, "--store", dir.File("store"));
    }

    private static void AssertBadInputAndNoRun(TempDir dir, CliResult result, params string[] expected)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        foreach (var text in expected)
            Assert.Contains(text, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
        Assert.Equal("[]", CliProcess.Run("runs", "list", "--store", dir.File("store"), "--json").StdOut.Trim());
    }

    [Fact]
    public void Layer_pattern_matching_nothing_exits_2_naming_the_line_the_stage_and_the_layers()
    {
        using var dir = new TempDir();
        var result = TrainInline(dir, """
              - name: p
                prune:
                  sparsity: 0.5
                  layers: ["block1.conv.weight", "blok*"]
            """);
        // '      layers: ["block1.conv.weight", ' is 37 characters: the second pattern starts at column 38 of line 9.
        AssertBadInputAndNoRun(dir, result,
            dir.File("recipe.yaml") + ":9:38: stage 'p': prune: layers pattern 'blok*' matches no layer",
            "the student's prunable layers are: block0.conv.weight, block1.conv.weight, head.fc0.weight, head.out.weight");
    }

    [Fact]
    public void Group_size_that_does_not_divide_a_layers_input_exits_2()
    {
        using var dir = new TempDir();
        var result = TrainInline(dir, """
              - name: nm
                prune: { method: n_m, n: 1, m: 5 }
            """);
        AssertBadInputAndNoRun(dir, result, dir.File("recipe.yaml") + ":7:5: stage 'nm': prune: 1:5 pruning needs M = 5 to divide the input size",
            "block1.conv.weight has input size 8");
    }

    [Fact]
    public void Sparsity_of_one_and_prune_in_the_teacher_stage_exit_2_naming_their_lines()
    {
        using var dir = new TempDir();
        var result = TrainInline(dir, """
              - name: p
                prune: { sparsity: 1 }
            """);
        // "    prune: { sparsity: " is 23 characters.
        AssertBadInputAndNoRun(dir, result, dir.File("recipe.yaml") + ":7:24: stages[0].prune.sparsity: must be in [0, 1), got 1");

        var recipe = dir.File("teacher.yaml");
        File.WriteAllText(recipe, $$"""
            name: bad-teacher
            data: { format: csv, train_csv: {{Digits}}, header: false, scale: 16 }
            teacher:
              model: { arch: mlp, hidden: [16] }
              train: { epochs: 1, prune: { sparsity: 0.5 } }
            student:
              model: { arch: mlp, hidden: [8] }
            stages:
              - name: s
            """);
        var teacher = CliProcess.Run("train", recipe, "--store", dir.File("store"));
        AssertBadInputAndNoRun(dir, teacher, recipe + ":5:23: teacher.train: 'prune' is not allowed here: pruning acts on the student");
    }
}
