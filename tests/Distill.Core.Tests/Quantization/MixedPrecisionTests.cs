using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Quantization;
using Distill.Core.Tests.Export;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Quantization;

/// <summary>quantize.auto on the fixture's digits CNN with 2-bit weights (so that quantising surely costs accuracy: the fixture's training is not bit-reproducible, and with 3 bits one run lost nothing):
/// max_drop sends the most sensitive layers to float until the calibrated model is within the drop, measured; a
/// size budget keeps the layers within it; an unmeetable target keeps the best configuration and says so.</summary>
public sealed class MixedPrecisionTests(ExportModelsFixture models, ITestOutputHelper output) : IClassFixture<ExportModelsFixture>
{
    private static readonly QuantConfig TwoBit = new() { Weights = QuantScheme.WeightInt8PerChannel with { Bits = 2 } };

    private MixedPrecisionChoice Choose(MixedPrecisionTarget target) =>
        MixedPrecision.Choose(models.DigitsCnn, TwoBit, target, models.Digits.Train, models.Digits.Validation, calibrationBatches: 8, batchSize: 64, seed: 1);

    [Fact]
    public void Max_drop_sends_the_most_sensitive_layers_to_float_until_the_measured_drop_is_within_it()
    {
        var allInteger = Choose(new MixedPrecisionTarget { MaxDrop = 1.0 });
        Assert.True(allInteger.Met);
        Assert.Empty(allInteger.FloatLayers);
        double integerDrop = allInteger.FloatAccuracy - allInteger.Accuracy;
        output.WriteLine($"2-bit weights everywhere: {allInteger.Summary}");

        double maxDrop = integerDrop / 3;
        var choice = Choose(new MixedPrecisionTarget { MaxDrop = maxDrop });
        output.WriteLine(choice.Summary);
        foreach (var step in choice.Steps)
            output.WriteLine($"  float [{string.Join(", ", step.FloatLayers)}]: {step.Accuracy:P2}, {step.SizeBytes:N0} bytes");
        Assert.True(integerDrop > 0.01, $"2-bit weights cost only {integerDrop:P2}; the test needs a lossy scheme");
        Assert.True(choice.Met, choice.Summary);
        Assert.True(choice.FloatAccuracy - choice.Accuracy <= maxDrop, choice.Summary);
        Assert.NotEmpty(choice.FloatLayers);
        // The layers went to float in the order of their measured sensitivity, one per step, and the search stopped
        // at the first configuration within the drop.
        Assert.Equal(choice.Sensitivity.Take(choice.FloatLayers.Count).Select(r => r.Layer), choice.FloatLayers);
        Assert.Equal(choice.FloatLayers.Count + 1, choice.Steps.Count);
        Assert.All(choice.Steps.SkipLast(1), step => Assert.True(choice.FloatAccuracy - step.Accuracy > maxDrop));
        Assert.True(choice.SizeBytes > choice.AllIntegerBytes && choice.SizeBytes < choice.AllFloatBytes);
    }

    [Fact]
    public void A_size_budget_keeps_the_layers_within_it_and_an_unmeetable_one_keeps_every_layer_integer_and_says_so()
    {
        var probe = Choose(new MixedPrecisionTarget { SizeBudgetBytes = long.MaxValue });
        Assert.Equal(probe.AllFloatBytes, probe.SizeBytes);
        long budget = (probe.AllIntegerBytes + probe.AllFloatBytes) / 2;

        var choice = Choose(new MixedPrecisionTarget { SizeBudgetBytes = budget });
        output.WriteLine(choice.Summary);
        Assert.True(choice.Met);
        Assert.True(choice.SizeBytes <= budget && choice.SizeBytes > choice.AllIntegerBytes, choice.Summary);
        Assert.Single(choice.Steps);

        var tooSmall = Choose(new MixedPrecisionTarget { SizeBudgetBytes = probe.AllIntegerBytes - 1 });
        Assert.False(tooSmall.Met);
        Assert.Empty(tooSmall.FloatLayers);
        Assert.EndsWith("target NOT met: kept the best configuration found", tooSmall.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void The_chosen_float_layers_are_float_in_the_int8_onnx_file_which_agrees_with_the_fake_quant_model()
    {
        var choice = Choose(new MixedPrecisionTarget { MaxDrop = 0.0 });
        Assert.NotEmpty(choice.FloatLayers);
        var config = TwoBit with { Overrides = [.. choice.FloatLayers.Select(l => new LayerOverride { Pattern = l, Float = true })] };
        using var quantized = PostTrainingCalibrator.Calibrate(models.DigitsCnn, models.Digits.Train, 8, 64, config, seed: 1);
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var info = new OnnxExporter().Export(models.DigitsCnn, quantized, new ExportOptions { Precision = ExportPrecision.Int8 }, folder.File("mixed.onnx"));
        OnnxChecker.Check(info.Path);
        var proto = Load(info.Path);
        foreach (var layer in quantized.Layers)
        {
            if (choice.FloatLayers.Contains(layer.Name))
                Assert.Equal(OnnxGraph.Float, Initializer(proto, $"{layer.Name}.weight").DataType);
            else
                Assert.Equal(OnnxGraph.Int8, Initializer(proto, $"{layer.Name}.weight.quantized").DataType);
        }
        var x = models.Digits.Test.Features;
        double agreement = Top1Agreement(RunOnnx(info.Path, x), ExportModelsFixture.Logits(quantized, x));
        output.WriteLine($"float [{string.Join(", ", choice.FloatLayers)}], 2-bit elsewhere: ONNX Runtime agrees with the fake-quant model on {agreement:P2}");
        Assert.True(agreement >= 0.99, $"agreement {agreement}");
    }
}
