using System.Globalization;
using System.Text.Json;

namespace Distill.Cli.Tests;

/// <summary>`distill calibrate` on a real distilled student.</summary>
public sealed class CalibrateCommandTests
{
    [Fact]
    public void Post_training_int8_keeps_accuracy_for_every_observer_and_bad_observer_is_bad_input()
    {
        using var store = new TempDir();
        var trained = CliProcess.Run("train", "configs/digits/kd.yaml", "--store", store.Path, "--json",
            "--set", "teacher.train.epochs=3", "--set", "stages[0].epochs=5");
        Assert.True(trained.ExitCode == 0, trained.ToString());
        var run = new RunJsonView(trained.StdOut);
        var checkpoint = Path.Combine(store.Path, "artifacts", run.Id, "models", "student.ckpt");

        var result = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var rows = JsonDocument.Parse(result.StdOut).RootElement.EnumerateArray().ToList();
        // The recipes' spellings (activation_observer: min_max, …).
        Assert.Equal(["min_max", "moving_average", "percentile", "entropy", "mse"], rows.Select(r => r.GetProperty("observer").GetString()));
        foreach (var row in rows)
        {
            double floatAccuracy = row.GetProperty("float_accuracy").GetDouble();
            double quantized = row.GetProperty("quantized_accuracy").GetDouble();
            // The float figure is the run's own test accuracy; int8 stays within 3 points of it.
            Assert.Equal(run.Metric("student/test_acc"), floatAccuracy, 9);
            Assert.InRange(quantized, floatAccuracy - 0.03, 1.0);
            Assert.Equal(16 * 64, row.GetProperty("calibration_samples").GetInt64());
        }

        // The earlier spellings still work, and name the same observers: the same rows.
        var aliases = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--json", "--observer", "minmax", "--observer", "moving-average");
        Assert.True(aliases.ExitCode == 0, aliases.ToString());
        var aliased = JsonDocument.Parse(aliases.StdOut).RootElement.EnumerateArray().ToList();
        Assert.Equal(["min_max", "moving_average"], aliased.Select(r => r.GetProperty("observer").GetString()));
        Assert.Equal(rows[0].GetProperty("quantized_accuracy").GetDouble(), aliased[0].GetProperty("quantized_accuracy").GetDouble());
        Assert.Equal(rows[1].GetProperty("quantized_accuracy").GetDouble(), aliased[1].GetProperty("quantized_accuracy").GetDouble());

        var bad = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--observer", "kl");
        Assert.True(bad.ExitCode == 2, bad.ToString());
        Assert.Contains("unknown observer 'kl'; choose from min_max, moving_average, percentile, entropy, mse", bad.StdErr);

        var twoToSave = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--save", store.File("two.ckpt"));
        Assert.True(twoToSave.ExitCode == 2, twoToSave.ToString());
        Assert.Contains("--save writes one calibrated model: choose its observer with --observer", twoToSave.StdErr);
        Assert.False(File.Exists(store.File("two.ckpt")));

        var badBits = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--weight-bits", "9");
        Assert.True(badBits.ExitCode == 2, badBits.ToString());
        Assert.Contains(9.ToString(CultureInfo.InvariantCulture), badBits.StdErr);

        var weightsOnly = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--target", "coreml-int8");
        Assert.True(weightsOnly.ExitCode == 2, weightsOnly.ToString());
        Assert.Contains("--target coreml-int8: Core ML int8 quantises weights only and needs no calibration", weightsOnly.StdErr);

        // Calibration data of the wrong shape: 28x28 Fashion-MNIST images for a model of 64 features.
        var badShape = CliProcess.Run("calibrate", checkpoint, "--data", "configs/quickstart.yaml");
        Assert.True(badShape.ExitCode == 2, badShape.ToString());
        Assert.Contains("[1,28,28]", badShape.StdErr);
        Assert.Contains("[64]", badShape.StdErr);
        Assert.DoesNotContain("   at ", badShape.StdErr);
    }

    [Fact]
    public void Calibrated_model_saved_for_a_target_exports_to_it_with_its_own_qparams_and_verifies_in_onnx_runtime()
    {
        using var store = new TempDir();
        var trained = CliProcess.Run("train", "configs/digits/kd.yaml", "--store", store.Path, "--json",
            "--set", "teacher.train.epochs=2", "--set", "stages[0].epochs=3");
        Assert.True(trained.ExitCode == 0, trained.ToString());
        var checkpoint = Path.Combine(store.Path, "artifacts", new RunJsonView(trained.StdOut).Id, "models", "student.ckpt");

        // No --observer: the target's own calibration method (x86-vnni: min_max).
        var saved = store.File("calibrated.ckpt");
        var calibrated = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--target", "x86-vnni", "--save", saved, "--json");
        Assert.True(calibrated.ExitCode == 0, calibrated.ToString());
        var row = Assert.Single(JsonDocument.Parse(calibrated.StdOut).RootElement.EnumerateArray().ToList());
        Assert.Equal("min_max", row.GetProperty("observer").GetString());

        // distill eval runs the saved model through its fake-quant view: the row's quantised accuracy, exactly.
        var eval = CliProcess.Run("eval", saved, "--data", "configs/digits/kd.yaml", "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        var evaluated = JsonDocument.Parse(eval.StdOut).RootElement;
        Assert.True(evaluated.GetProperty("quantized").GetBoolean());
        Assert.Equal(row.GetProperty("quantized_accuracy").GetDouble(), evaluated.GetProperty("accuracy").GetDouble());

        var output = store.File("export");
        var export = CliProcess.Run("export", saved, "--target", "x86-vnni", "--data", "configs/digits/kd.yaml", "--out", output, "--json");
        Assert.True(export.ExitCode == 0, export.ToString());
        var report = JsonDocument.Parse(export.StdOut).RootElement;
        Assert.False(report.GetProperty("calibrated").GetBoolean());
        Assert.Equal("ONNX Runtime (CPU)", report.GetProperty("verification").GetProperty("runtime").GetString());
        Assert.True(report.GetProperty("verification").GetProperty("passed").GetBoolean());
        var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "model_card.json"))).RootElement;
        Assert.StartsWith("from the checkpoint", card.GetProperty("calibration").GetProperty("method").GetString());
        Assert.DoesNotContain("Calibrating again", export.StdErr);
    }
}
