using System.Globalization;
using Distill.Core.Pruning;
using Distill.Core.Quantization;
using Distill.Core.Training;

namespace Distill.Cli.Tests;

/// <summary>Quantize stages end to end through `distill train` on the shipped optical digits
/// (configs/digits/qat.yaml: distil, prune to 50 %, QAT): the quantised student's accuracy, its zeros,
/// its file, post-training calibration as a stage, and a crash in the middle of QAT.</summary>
public sealed class QuantizationTests
{
    private static readonly string[] Qat =
    [
        "train", "configs/digits/qat.yaml", "--json",
        "--set", "teacher.train.epochs=3", "--set", "stages[0].epochs=4",
        "--set", "stages[1].epochs=3", "--set", "stages[2].epochs=2",
    ];

    private static string StudentFile(string store, string runId) => Path.Combine(store, "artifacts", runId, "models", "student.ckpt");

    [Fact]
    public void Distil_prune_then_qat_gives_a_quantised_student_that_keeps_its_zeros()
    {
        using var store = new TempDir();
        var result = CliProcess.Run([.. Qat, "--store", store.Path], TimeSpan.FromMinutes(10));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);

        double quantized = run.Metric("student/test_acc"), floating = run.Metric("student/float_test_acc");
        Assert.True(quantized > 0.85, $"quantised student accuracy {quantized}");
        Assert.True(Math.Abs(quantized - floating) <= 0.02, $"quantised {quantized} vs float {floating}");
        Assert.True(run.Metric("student/sparsity") >= 0.499, $"sparsity {run.Metric("student/sparsity")}");
        Assert.Contains("quantisation-aware training", result.StdErr);

        // The model file carries the frozen int8 qparams of every tensor, and its pruned weights are still zero,
        // also after batch-norm folding and fake-quantisation (zero is always a code).
        var path = StudentFile(store.Path, run.Id);
        var (model, _, view) = QuantState.LoadModel(path);
        using (model)
        using (view)
        {
            Assert.NotNull(view);
            var tensors = view.QuantParameters().ToDictionary(t => t.Name);
            Assert.Contains("input", tensors.Keys);
            Assert.Equal(16, tensors["block0.conv.weight"].Params.Count);
            Assert.All(tensors.Values, t => Assert.Equal(8, t.Params.Scheme.Bits));
            Assert.True(view.BatchNormFrozen, "freeze_bn_epoch: 1 froze batch norm in the second QAT epoch");
            var (_, sections) = CheckpointFile.Read(path);
            using var masks = MaskSet.FromBytes(path, sections[MaskSet.Section], model);
            foreach (var name in masks.Names)
            {
                var mask = masks.Get(name)!;
                var layer = name[..name.LastIndexOf('.')];
                var (weight, _) = view.EffectiveWeights(layer);
                using (weight)
                {
                    using var pruned = mask.eq(0);
                    Assert.True(pruned.any().item<bool>(), $"{name} has pruned weights");
                    using var survivors = weight.masked_select(pruned);
                    Assert.Equal(0f, survivors.abs().max().item<float>());
                }
            }
        }

        // distill eval measures the quantised view: the same accuracy the run logged.
        var eval = CliProcess.Run("eval", path, "--data", "configs/digits/qat.yaml", "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        Assert.Contains(quantized.ToString("R", CultureInfo.InvariantCulture), eval.StdOut);
        Assert.Contains("\"quantized\": true", eval.StdOut);

        // TensorRT wants symmetric activations; the QAT student's are asymmetric (the recipe's default): the export
        // calibrates again, and says so on the console, naming what differs and how it calibrates.
        var export = CliProcess.Run("export", path, "--target", "tensorrt", "--data", "configs/digits/qat.yaml", "--out", store.File("trt"));
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Contains("WRN tensorrt: the checkpoint's quantisation (from QAT or calibration) does not fit this target: " +
            "activations int8 asymmetric per-tensor [-128, 127], the target wants int8 symmetric per-tensor [-128, 127]. " +
            "Calibrating again: entropy observer on 16 batches of 64 from the training split; the trained qparams are not used", export.StdErr);
    }

    [Fact]
    public void A_stage_with_zero_epochs_calibrates_post_training()
    {
        using var store = new TempDir();
        var result = CliProcess.Run([.. Qat, "--store", store.Path,
            "--set", "stages[2].epochs=0", "--set", "stages[2].quantize.activation_observer=entropy",
            "--set", "stages[2].quantize.calibration_batches=4"], TimeSpan.FromMinutes(10));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);
        Assert.Contains("post-training quantisation", result.StdErr);
        double quantized = run.Metric("student/test_acc"), floating = run.Metric("student/float_test_acc");
        Assert.True(Math.Abs(quantized - floating) <= 0.03, $"quantised {quantized} vs float {floating}");
        Assert.True(run.Metric("quant/val_acc") > 0.8, $"validation accuracy after calibration {run.Metric("quant/val_acc")}");

        var (model, _, view) = QuantState.LoadModel(StudentFile(store.Path, run.Id));
        using (model)
        using (view)
        {
            Assert.NotNull(view);
            Assert.Equal(ObserverKind.Entropy, view.Config.ActivationObserver);
            Assert.Equal(0, view.QatSteps);
        }
    }

    [Fact]
    public void Run_killed_in_the_middle_of_qat_resumes_to_the_uninterrupted_result()
    {
        // A QAT stage long enough that the kill after its second epoch lands inside it on any machine.
        string[] longQat = [.. Qat, "--set", "stages[2].epochs=30", "--set", "stages[2].quantize.learned_step_size=true"];
        using var referenceStore = new TempDir();
        var reference = CliProcess.Run([.. longQat, "--store", referenceStore.Path], TimeSpan.FromMinutes(10));
        Assert.True(reference.ExitCode == 0, reference.ToString());
        var expected = new RunJsonView(reference.StdOut);

        using var store = new TempDir();
        string runId = CliProcess.KillAfter(longQat, store.Path, "[qat] epoch 2/");
        var (header, sections) = TrainingCheckpoint.Read(Path.Combine(store.Path, "artifacts", runId, "checkpoints", "last.ckpt"));
        Assert.Equal("qat", header.PhaseName);
        Assert.InRange(header.Phase.EpochsCompleted, 1, 29);
        Assert.True(sections.ContainsKey(QuantState.Section), "the checkpoint holds the quantisation state");

        var resumed = CliProcess.Run(["train", "--resume", runId, "--store", store.Path, "--json"], TimeSpan.FromMinutes(10));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var actual = new RunJsonView(resumed.StdOut);
        foreach (var key in new[] { "student/test_acc", "student/float_test_acc", "student/test_loss", "student/sparsity", "train/loss", "val/loss" })
            Assert.True(expected.Metric(key) == actual.Metric(key), $"{key}: uninterrupted {expected.Metric(key)}, resumed {actual.Metric(key)}");
    }

    [Fact]
    public void Quantisation_layer_pattern_matching_nothing_exits_2_naming_the_line()
    {
        using var dir = new TempDir();
        var recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, $$"""
            name: bad-quantize
            data: { format: csv, train_csv: {{Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz")}}, header: false, image_shape: [1, 8, 8], scale: 16 }
            student:
              model: { arch: cnn, channels: [8, 6], hidden: [16] }
            stages:
              - name: q
                quantize:
                  layers: [{ pattern: "blok*", weight_bits: 4 }]
            """);
        var result = CliProcess.Run("train", recipe, "--store", dir.File("store"));
        Assert.True(result.ExitCode == 2, result.ToString());
        // '      layers: [' is 15 characters: the override mapping starts at column 16 of line 8.
        Assert.Contains(recipe + ":8:16: quantisation override 'blok*' matches no layer", result.StdErr);
        Assert.Contains("block0.conv, block1.conv, head.fc0, head.out", result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
        Assert.Equal("[]", CliProcess.Run("runs", "list", "--store", dir.File("store"), "--json").StdOut.Trim());
    }
}
