using Distill.Core.Models;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>model.arch: mobilenet_v2: its keys bind with their defaults, a stage narrower than 16 channels after the
/// width multiplier is an error at its item, and its keys belong to it alone; the shrink keys (inner_widths, also
/// resnet's, and exact_widths) bind and are checked against the blocks. The student model is on line 6.</summary>
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

    [Fact]
    public void Inner_widths_and_exact_widths_bind_as_a_shrunk_checkpoint_records_them()
    {
        var spec = Load(WithModel("{ arch: mobilenet_v2, channels: [16, 20], blocks: [1, 2], expansion: 4, exact_widths: true, inner_widths: [48, 40, 72] }")).Student.Model;
        Assert.True(spec.ExactWidths);
        Assert.Equal([48, 40, 72], spec.InnerWidths!);
        Assert.Equal(1.0, spec.WidthMultiplier);

        var resnet = Load(WithModel("{ arch: resnet, channels: [16, 32], blocks: [2, 1], inner_widths: [16, 24, 16] }")).Student.Model;
        Assert.Equal([16, 24, 16], resnet.InnerWidths!);
        Assert.False(resnet.ExactWidths);
        Assert.Null(Load(WithModel("{ arch: resnet, channels: [16] }")).Student.Model.InnerWidths);
    }

    [Theory]
    [InlineData("{ arch: resnet, channels: [16, 32], blocks: [2, 1], inner_widths: [16, 16] }", "student.model.inner_widths: has 2 entries but the model has 3 blocks; give one per block, in order over all stages")]
    [InlineData("{ arch: resnet, channels: [16, 32], inner_widths: [16, 8] }", "student.model.inner_widths[1]: an inner width must be at least 16 channels, got 8")]
    [InlineData("{ arch: mobilenet_v2, channels: [16], expansion: 1, inner_widths: [32] }", "student.model.inner_widths: with expansion 1 a block has no expand conv, so no inner width of its own")]
    [InlineData("{ arch: mobilenet_v2, channels: [16], exact_widths: true, width_multiplier: 0.5 }", "student.model.width_multiplier: exact_widths says channels are the widths as built; drop the width multiplier")]
    [InlineData("{ arch: mobilenet_v2, channels: [12], exact_widths: true }", "student.model.channels[0]: a mobilenet_v2 stage must be at least 16 channels wide, got 12 (exact widths)")]
    [InlineData("{ arch: cnn, channels: [16], inner_widths: [16] }", "inner_widths")]
    [InlineData("{ arch: resnet, channels: [16], exact_widths: true }", "exact_widths")]
    public void Widths_that_do_not_fit_the_model_are_errors_at_the_model_line(string model, string message)
    {
        var error = Single(WithModel(model));
        Assert.Equal(6, error.Line);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    private sealed class TupleOfArraysComparer : IEqualityComparer<(int[], int[], int, double)>
    {
        public bool Equals((int[], int[], int, double) a, (int[], int[], int, double) b) =>
            a.Item1.SequenceEqual(b.Item1) && a.Item2.SequenceEqual(b.Item2) && a.Item3 == b.Item3 && a.Item4 == b.Item4;

        public int GetHashCode((int[], int[], int, double) value) => value.Item3;
    }
}
