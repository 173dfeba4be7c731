using Distill.Core.Models;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>model.arch: mobilenet_v2: its keys bind with their defaults, a stage narrower than 16 channels after the
/// width multiplier is an error at its item, and its keys belong to it alone. The student model is on line 6.</summary>
public class MobileNetRecipeTests
{
    private static string WithModel(string model) => Minimal.Replace("{ arch: mlp, hidden: [32] }", model, StringComparison.Ordinal);

    [Fact]
    public void Mobilenet_binds_channels_blocks_expansion_and_width_multiplier_with_their_defaults()
    {
        var spec = Load(WithModel("{ arch: mobilenet_v2, channels: [16, 24, 32], blocks: [1, 2, 3], expansion: 4, width_multiplier: 1.5 }")).Student.Model;
        Assert.Equal(ModelArch.MobileNetV2, spec.Arch);
        Assert.Equal(([16, 24, 32], [1, 2, 3], 4, 1.5), (spec.Channels, spec.Blocks, spec.Expansion, spec.WidthMultiplier), new TupleOfArraysComparer());

        var defaults = Load(WithModel("{ arch: mobilenet_v2, channels: [16, 24] }")).Student.Model;
        Assert.Equal([1, 1], defaults.Blocks);
        Assert.Equal((6, 1.0), (defaults.Expansion, defaults.WidthMultiplier));
    }

    [Fact]
    public void A_stage_narrower_than_16_after_the_multiplier_is_an_error_at_its_item()
    {
        string yaml = WithModel("{ arch: mobilenet_v2, channels: [32, 64], width_multiplier: 0.25 }");
        var error = Single(yaml);
        Assert.Equal(6, error.Line);
        Assert.Contains("student.model.channels[0]: a mobilenet_v2 stage must be at least 16 channels wide, got 32 x width_multiplier 0.25 = 8", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Expansion_is_a_mobilenet_key_alone()
    {
        var error = Single(WithModel("{ arch: cnn, channels: [8], expansion: 4 }"));
        Assert.Equal(6, error.Line);
        Assert.Contains("expansion", error.Message, StringComparison.Ordinal);
    }

    private sealed class TupleOfArraysComparer : IEqualityComparer<(int[], int[], int, double)>
    {
        public bool Equals((int[], int[], int, double) a, (int[], int[], int, double) b) =>
            a.Item1.SequenceEqual(b.Item1) && a.Item2.SequenceEqual(b.Item2) && a.Item3 == b.Item3 && a.Item4 == b.Item4;

        public int GetHashCode((int[], int[], int, double) value) => value.Item3;
    }
}
