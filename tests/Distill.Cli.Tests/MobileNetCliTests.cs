using System.Text.Json;

namespace Distill.Cli.Tests;

/// <summary>A mobilenet_v2 student distilled from a cnn teacher on the shipped digits (8x8 images), end to end through
/// `distill train`, fine-tuned with int8 QAT and exported to ONNX (fp32, fp16 and x86-vnni int8) verified in ONNX Runtime
/// and to int8 TFLite verified in Arm NN.</summary>
public sealed class MobileNetCliTests
{
    private static string Recipe(string student, string stage, string extra = "") => $$"""
        name: mobilenet-digits
        seed: 4
        data: { format: csv, train_csv: {{Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz")}}, header: false, scale: 16, image_shape: [1, 8, 8], test_fraction: 0.2, validation_fraction: 0.1, normalize: standard }
        teacher:
          model: { arch: cnn, channels: [32, 64], pool: [false, true], hidden: [64] }
          train: { epochs: 6, batch_size: 64, optimizer: { name: adam, lr: 0.003 } }
        student:
          model: {{student}}
        stages:
          - name: distil
        {{stage}}
        {{extra}}
        """;

    [Fact]
    public void A_mobilenet_v2_student_distils_on_digits_trains_with_qat_and_exports_to_verified_onnx_and_tflite()
    {
        using var dir = new TempDir();
        string recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, Recipe("{ arch: mobilenet_v2, channels: [16, 24], blocks: [1, 2], width_multiplier: 1.0 }", """
                epochs: 8
                batch_size: 64
                optimizer: { name: adam, lr: 0.005 }
                schedule: { name: cosine }
                loss:
                  kd: { temperature: 3, alpha: 0.8 }
              - name: qat
                epochs: 2
                batch_size: 64
                optimizer: { name: adam, lr: 0.0005 }
                loss:
                  kd: { temperature: 3, alpha: 0.8 }
                quantize: { first_layer: float, observer_steps: 20, freeze_bn_epoch: 1 }
            """, "export: [{ target: onnx-fp32 }, { target: edge-fp16 }, { target: x86-vnni }, { target: arm-cortex-a }]\n"));
        var result = CliProcess.Run(["train", recipe, "--store", dir.File("store"), "--json", "--threads", "1"], TimeSpan.FromMinutes(10));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);

        Assert.Equal(18746, run.Metric("student/params"));
        Assert.True(run.Metric("teacher/test_acc") >= 0.93, $"teacher {run.Metric("teacher/test_acc"):P2}");
        Assert.True(run.Metric("student/test_acc") >= 0.90, $"student {run.Metric("student/test_acc"):P2}");
        foreach (string target in new[] { "onnx-fp32", "edge-fp16", "x86-vnni", "arm-cortex-a" })
            Assert.Equal(1, run.Metric($"export/{target}/verified"));
        // The x86-vnni file is the QAT model as trained (its qparams, float stem: no recalibration) and scores what it
        // scored; arm-cortex-a runs the stem in integer too, so that export calibrates again and says so.
        Assert.DoesNotContain("x86-vnni: the checkpoint's quantisation", result.StdErr);
        Assert.Contains("arm-cortex-a: the checkpoint's quantisation", result.StdErr);
        double student = run.Metric("student/test_acc");
        Assert.True(Math.Abs(student - run.Metric("export/x86-vnni/test_acc")) <= 0.01, $"student {student}, x86-vnni {run.Metric("export/x86-vnni/test_acc")}");
        // The float files hold the float weights under the QAT model: near its accuracy, not equal.
        Assert.True(Math.Abs(student - run.Metric("export/onnx-fp32/test_acc")) <= 0.02, $"student {student}, onnx-fp32 {run.Metric("export/onnx-fp32/test_acc")}");
        string card = Path.Combine(dir.File("store"), "artifacts", run.Id, "exports", "onnx-fp32", "model_card.json");
        using var json = JsonDocument.Parse(File.ReadAllText(card));
        Assert.Equal("mobilenet_v2", json.RootElement.GetProperty("model").GetProperty("arch").GetString());
        Assert.True(json.RootElement.GetProperty("verification").GetProperty("max_abs_logit_diff").GetDouble() <= 1e-4);
    }

    [Theory]
    [InlineData("{ arch: mobilenet_v2, channels: [32, 32], width_multiplier: 0.25 }", "    epochs: 1", "", 8, "student.model.channels[0]: a mobilenet_v2 stage must be at least 16 channels wide, got 32 x width_multiplier 0.25 = 8")]
    [InlineData("{ arch: mobilenet_v2, channels: [16] }", "    epochs: 1", "export: [{ target: coreml-fp16 }]\n", 12, "export[0].target: target coreml-fp16: a mobilenet_v2 cannot be exported to Core ML float")]
    public void A_mobilenet_recipe_asking_for_what_is_not_built_exits_2_at_its_line(string student, string stage, string extra, int line, string message)
    {
        using var dir = new TempDir();
        string recipe = dir.File("bad.yaml");
        File.WriteAllText(recipe, Recipe(student, stage, extra));
        var result = CliProcess.Run("train", recipe, "--store", dir.File("store"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"{recipe}:{line}:", result.StdErr);
        Assert.Contains(message, result.StdErr);
    }
}
