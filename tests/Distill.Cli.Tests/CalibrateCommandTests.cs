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
        Assert.Equal(["minmax", "moving-average", "percentile", "entropy", "mse"], rows.Select(r => r.GetProperty("observer").GetString()));
        foreach (var row in rows)
        {
            double floatAccuracy = row.GetProperty("float_accuracy").GetDouble();
            double quantized = row.GetProperty("quantized_accuracy").GetDouble();
            // The float figure is the run's own test accuracy; int8 stays within 3 points of it.
            Assert.Equal(run.Metric("student/test_acc"), floatAccuracy, 9);
            Assert.InRange(quantized, floatAccuracy - 0.03, 1.0);
            Assert.Equal(16 * 64, row.GetProperty("calibration_samples").GetInt64());
        }

        var bad = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--observer", "kl");
        Assert.True(bad.ExitCode == 2, bad.ToString());
        Assert.Contains("unknown observer 'kl'", bad.StdErr);

        var badBits = CliProcess.Run("calibrate", checkpoint, "--data", "configs/digits/kd.yaml", "--weight-bits", "9");
        Assert.True(badBits.ExitCode == 2, badBits.ToString());
        Assert.Contains(9.ToString(CultureInfo.InvariantCulture), badBits.StdErr);

        // Calibration data of the wrong shape: 28x28 Fashion-MNIST images for a model of 64 features.
        var badShape = CliProcess.Run("calibrate", checkpoint, "--data", "configs/quickstart.yaml");
        Assert.True(badShape.ExitCode == 2, badShape.ToString());
        Assert.Contains("[1,28,28]", badShape.StdErr);
        Assert.Contains("[64]", badShape.StdErr);
        Assert.DoesNotContain("   at ", badShape.StdErr);
    }
}
