using Distill.Core.Quantization;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>The quantize section of a stage: binding, defaults, and errors at their exact positions.
/// <see cref="Recipes.Minimal"/>'s stage mapping starts at 8:5, so appended lines are 9, 10, ….</summary>
public class QuantizeRecipeTests
{
    private static string WithQuantize(string quantize, int epochs = 3) =>
        Minimal + $"\n    epochs: {epochs}\n    quantize:\n" + quantize;

    [Fact]
    public void DefaultsAreInt8PerChannelWeightsAndAsymmetricInt8Activations()
    {
        var quantize = Load(WithQuantize("      observer_steps: 50")).Stages[0].Quantize!;
        var config = quantize.Config;
        Assert.Equal(QuantScheme.WeightInt8PerChannel, config.Weights);
        Assert.Equal(QuantScheme.ActivationInt8, config.Activations);
        Assert.Equal((ObserverKind.MinMax, ObserverKind.MinMax), (config.WeightObserver, config.ActivationObserver));
        Assert.Equal(50, config.ObserverSteps);
        Assert.True(config.FoldBatchNorm);
        Assert.True(config.QuantizeInput);
        Assert.False(config.FirstLayerFloat);
        Assert.False(config.LearnedStepSize);
        Assert.Null(config.FreezeBatchNormEpoch);
        Assert.Empty(config.Overrides);
        Assert.Equal(16, quantize.CalibrationBatches);
        Assert.Equal("recipe.yaml:10:5", quantize.Where);
        Assert.Null(Load(Minimal).Stages[0].Quantize);
    }

    [Fact]
    public void SchemesObserversAndMixedPrecisionBind()
    {
        var config = Load(WithQuantize("""
                  weights: { bits: 4, per_channel: false }
                  activations: { bits: 8, signed: false }
                  activation_observer: percentile
                  percentile: 99.9
                  learned_step_size: true
                  freeze_bn_epoch: 1
                  first_layer: float
                  layers:
                    - { pattern: "block1.*", weight_bits: 4 }
                    - { pattern: head.out, float: true }
            """)).Stages[0].Quantize!.Config;
        Assert.Equal(new QuantScheme { Bits = 4, Symmetric = true, NarrowRange = true, PerChannel = false }, config.Weights);
        Assert.Equal(QuantScheme.ActivationUInt8, config.Activations);
        Assert.Equal(ObserverKind.Percentile, config.ActivationObserver);
        Assert.Equal(99.9, config.Observer.Percentile);
        Assert.True(config.LearnedStepSize);
        Assert.Equal(1, config.FreezeBatchNormEpoch);
        Assert.True(config.FirstLayerFloat);
        Assert.Equal(2, config.Overrides.Count);
        Assert.Equal(("block1.*", 4, false, "recipe.yaml:19:11"), (config.Overrides[0].Pattern, config.Overrides[0].WeightBits, config.Overrides[0].Float, config.Overrides[0].Where));
        Assert.True(config.Overrides[1].Float);
    }

    [Fact]
    public void ZeroEpochsWithQuantizeIsAPostTrainingCalibrationStage()
    {
        var stage = Load(WithQuantize("      calibration_batches: 8\n      activation_observer: entropy", epochs: 0)).Stages[0];
        Assert.Equal(0, stage.Epochs);
        Assert.Equal(8, stage.Quantize!.CalibrationBatches);
        Assert.Equal(ObserverKind.Entropy, stage.Quantize.Config.ActivationObserver);
    }

    [Theory]
    // "      weights: { bits: " is 23 characters: the value starts at column 24 of line 11;
    // "      layers: [{ pattern: x, weight_bits: " is 42.
    [InlineData("      weights: { bits: 9 }", 11, 24, "stages[0].quantize.weights.bits: must be in [2, 8], got 9")]
    [InlineData("      activations: { bits: 1 }", 11, 28, "stages[0].quantize.activations.bits: must be in [2, 8], got 1")]
    [InlineData("      layers: [{ pattern: x, weight_bits: 16 }]", 11, 43, "stages[0].quantize.layers[0].weight_bits: must be in [2, 8], got 16")]
    [InlineData("      activations: { per_channel: true }", 11, 22, "stages[0].quantize.activations: unknown key 'per_channel'")]
    // Core's observers need 256 bins at least; the recipe once allowed 16 and the run failed later, without this line.
    [InlineData("      bins: 100", 11, 13, "stages[0].quantize.bins: must be in [256, 65536], got 100")]
    [InlineData("      activation_observer: kl", 11, 28, "stages[0].quantize.activation_observer: must be one of min_max | moving_average | percentile | entropy | mse, got 'kl'")]
    public void BadQuantizeSectionsAreReportedAtTheirLine(string quantize, int line, int column, string message)
    {
        AssertAt(Single(WithQuantize(quantize)), line, column, message);
    }

    /// <summary>The recipe reads the observer registry: every registered name binds to its own kind (the binder
    /// once turned any name it did not know into min_max), and the CLI's old spellings are not recipe names.</summary>
    [Fact]
    public void EveryRegisteredObserverBindsToItsKindAndOldSpellingsAreSuggestedAgainst()
    {
        foreach (var entry in Observers.Registry.Entries)
        {
            var config = Load(WithQuantize($"      weights: {{ per_channel: false }}\n      weight_observer: {entry.Name}\n      activation_observer: {entry.Name}")).Stages[0].Quantize!.Config;
            Assert.Equal((entry.Kind, entry.Kind), (config.WeightObserver, config.ActivationObserver));
        }
        // "      activation_observer: " is 27 characters: the value starts at column 28 of line 11.
        AssertAt(Single(WithQuantize("      activation_observer: moving-average")), 11, 28,
            "stages[0].quantize.activation_observer: must be one of min_max | moving_average | percentile | entropy | mse, got 'moving-average' (did you mean 'moving_average'?)");
    }

    [Fact]
    public void ZeroEpochsWithoutQuantizeIsRejected()
    {
        AssertAt(Single(Minimal + "\n    epochs: 0"), 9, 5, "stages[0].epochs: 0 epochs trains nothing; only a stage with a quantize section may have 0");
    }

    [Fact]
    public void QuantizeInTheTeachersTrainingStageIsRejected()
    {
        var recipe = Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  train:\n    quantize: {}\nstages:");
        AssertAt(Single(recipe), 10, 5, "teacher.train: 'quantize' is not allowed here: quantisation acts on the student");
    }

    [Fact]
    public void StagesAfterAQuantizingStageCannotQuantizeAgainUseHintsOrShrink()
    {
        var recipe = Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  checkpoint: t.ckpt\nstages:") + """

                quantize: {}
              - name: again
                quantize: {}
              - name: hints
                loss: { hint: { student_tap: features, teacher_tap: features } }
              - name: shrink
                prune: { method: channel, sparsity: 0.5, shrink: true }
            """;
        var errors = Errors(recipe);
        Assert.Contains(errors, e => e.Line == 14 && e.Message.Contains("stages[1].quantize: the student is already quantised by stages[0].quantize", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Line == 16 && e.Message.Contains("stages[2].loss.hint: the student is quantised by stages[0].quantize", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Line == 18 && e.Message.Contains("stages[3].prune.shrink: the student is quantised", StringComparison.Ordinal));
    }
}
