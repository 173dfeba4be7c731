using Distill.Core.Data;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>data.augment's mixup and cutmix: bound to Core's options, α checked at its line, and pixel-moving
/// augmentation refused for flat CSV rows.</summary>
public sealed class AugmentRecipeTests
{
    private static string WithAugment(string augment) =>
        Minimal.Replace("  test: {", $"  augment: {augment}\n  test: {{", StringComparison.Ordinal);

    [Fact]
    public void Mixup_and_cutmix_bind_their_alphas_with_default_one()
    {
        var plan = Load(WithAugment("{ max_shift: 2, mixup: { alpha: 0.2 }, cutmix: {} }"));
        var augment = Assert.IsType<AugmentOptions>(plan.Data.Augment);
        Assert.Equal(2, augment.MaxShift);
        Assert.Equal(0.2, augment.MixupAlpha);
        Assert.Equal(1.0, augment.CutMixAlpha);
        Assert.Null(Load(WithAugment("{ max_shift: 2 }")).Data.Augment!.MixupAlpha);
    }

    [Theory]
    [InlineData("mixup", "0")]
    [InlineData("cutmix", "-1")]
    public void An_alpha_that_is_not_positive_is_an_error_at_its_line(string key, string alpha)
    {
        var error = Single(WithAugment($"{{ {key}: {{ alpha: {alpha} }} }}"));
        Assert.Equal(("recipe.yaml", 4), (error.File, error.Line));
        Assert.Contains($"data.augment.{key}.alpha", error.Message);
        Assert.Contains("> 0", error.Message);
    }

    [Fact]
    public void Flat_csv_rows_take_mixup_but_not_shifts_flips_or_cutmix()
    {
        const string csv = """
            name: t
            data:
              format: csv
              train_csv: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
              augment: { max_shift: 1, horizontal_flip: true, mixup: {}, cutmix: {} }
            student:
              model: { arch: mlp, hidden: [32] }
            stages:
              - name: s
            """;
        var errors = Errors(csv);
        Assert.Equal(["max_shift", "horizontal_flip", "cutmix"], errors.Select(e => e.Message.Split(':')[0]["data.augment.".Length..]));
        Assert.All(errors, e => Assert.Equal(5, e.Line));
        Assert.All(errors, e => Assert.Contains("set data.image_shape", e.Message));
        var mixupOnly = Load(csv.Replace("max_shift: 1, horizontal_flip: true, mixup: {}, cutmix: {}", "mixup: {}", StringComparison.Ordinal));
        Assert.Equal(1.0, mixupOnly.Data.Augment!.MixupAlpha);
    }
}
