using System.Text.Json;

namespace Distill.Cli.Tests;

/// <summary>quantize.auto in a recipe: the layers it leaves in float are tagged, written to quantize-auto/&lt;stage&gt;.json,
/// kept through QAT into the model file, and run in float by the x86-vnni ONNX file, verified in ONNX Runtime.</summary>
public sealed class MixedPrecisionCliTests
{
    private static string Recipe(string auto) => $$"""
        name: amp
        seed: 5
        data: { format: csv, train_csv: {{Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz")}}, header: false, scale: 16, image_shape: [1, 8, 8], test_fraction: 0.2, validation_fraction: 0.15, normalize: standard }
        student:
          model: { arch: cnn, channels: [16, 32], pool: [false, true], hidden: [32] }
        stages:
          - name: train
            epochs: 6
            batch_size: 64
            optimizer: { name: adam, lr: 0.005 }
          - name: qat
            epochs: 2
            batch_size: 64
            optimizer: { name: adam, lr: 0.0005 }
            quantize:
              first_layer: float
              auto: {{auto}}
        export: [{ target: x86-vnni }]

        """;

    [Fact]
    public void A_size_budget_leaves_the_sensitive_layers_in_float_through_qat_into_a_verified_onnx_file()
    {
        using var dir = new TempDir();
        string recipe = dir.File("amp.yaml");
        File.WriteAllText(recipe, Recipe("{ size_budget_bytes: 40000 }"));
        var result = CliProcess.Run(["train", recipe, "--store", dir.File("store"), "--json", "--threads", "1"], TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);

        string chosen = File.ReadAllText(Path.Combine(dir.File("store"), "artifacts", run.Id, "quantize-auto", "qat.json"));
        using var json = JsonDocument.Parse(chosen);
        var floats = json.RootElement.GetProperty("float_layers").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.True(json.RootElement.GetProperty("met").GetBoolean());
        Assert.NotEmpty(floats);
        Assert.True(json.RootElement.GetProperty("size_bytes").GetInt64() <= 40000);
        Assert.Equal(4, json.RootElement.GetProperty("sensitivity").GetArrayLength());
        Assert.StartsWith($"size_budget_bytes 40,000: float {string.Join(", ", floats)}; ", run.Tag("stage.qat.quantize.auto"));
        Assert.Equal(floats.Count, run.Metric("quant/auto_float_layers"));

        // The export used the trained quantisation (no recalibration) and runs the chosen layers with float weights.
        Assert.DoesNotContain("does not fit this target", result.StdErr, StringComparison.Ordinal);
        Assert.Equal(1, run.Metric("export/x86-vnni/verified"));
        string folder = Path.Combine(dir.File("store"), "artifacts", run.Id, "exports", "x86-vnni");
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "model_card.json")));
        var listed = card.RootElement.GetProperty("quantization").GetProperty("layers").EnumerateArray()
            .Where(l => l.GetProperty("float").GetBoolean()).Select(l => l.GetProperty("layer").GetString()).ToList();
        Assert.Equal(floats.Order(), listed.Order());
    }

    [Theory]
    [InlineData("{ max_drop: 0.01, size_budget_bytes: 100 }")]
    [InlineData("{}")]
    public void Auto_needs_exactly_one_target_at_its_line(string auto)
    {
        using var dir = new TempDir();
        string recipe = dir.File("amp.yaml");
        File.WriteAllText(recipe, Recipe(auto));
        var result = CliProcess.Run("train", recipe, "--store", dir.File("store"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{recipe}:17:7: stages[1].quantize.auto: give exactly one of max_drop (an accuracy drop) and size_budget_bytes (a size)", result.StdErr, StringComparison.Ordinal);
    }
}
