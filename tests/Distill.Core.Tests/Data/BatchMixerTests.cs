using Distill.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Data;

/// <summary>Mixup and CutMix on batches whose images are constant, each equal to its own label (image i is all i):
/// then a mixed image's mean pixel is λ·y_i + (1 − λ)·y_π(i), which must equal Σ_c c · target[c] of its
/// target row, whatever λ and π were drawn.</summary>
public sealed class BatchMixerTests
{
    private const int Classes = 10;

    private static (Tensor Images, Tensor Labels) LabelImages(int n, int side = 8)
    {
        var labels = arange(n, dtype: ScalarType.Int64);
        var images = labels.to(ScalarType.Float32).view(n, 1, 1, 1).expand(n, 1, side, side).contiguous();
        return (images, labels);
    }

    private static void AssertTargetsMatchImages(Tensor mixed, Tensor targets)
    {
        int n = (int)mixed.shape[0];
        var rowSums = targets.sum(1);
        var expectedMeans = (targets * arange(Classes, dtype: ScalarType.Float32)).sum(1);
        var means = mixed.mean([1, 2, 3]);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(1.0, rowSums[i].item<float>(), 5);
            Assert.Equal(expectedMeans[i].item<float>(), means[i].item<float>(), 4);
        }
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(1.0)]
    public void Mixup_blends_images_and_labels_with_one_lambda(double alpha)
    {
        var (images, labels) = LabelImages(Classes);
        using var generator = new Generator(7);
        var (mixed, targets) = BatchMixer.Mix(images, labels, Classes, new AugmentOptions { MixupAlpha = alpha }, generator);
        AssertTargetsMatchImages(mixed, targets);
        // One λ for the batch: every image is uniform (a blend of two constants) and each row's largest weight
        // is max(λ, 1 − λ), or 1 where a sample drew itself.
        Assert.Equal(0.0, (mixed.amax([2, 3]) - mixed.amin([2, 3])).abs().max().item<float>(), 5);
        var top = targets.amax(1);
        var lambda = top.min().item<float>();
        Assert.All(Enumerable.Range(0, Classes), i => Assert.True(Math.Abs(top[i].item<float>() - lambda) < 1e-5 || Math.Abs(top[i].item<float>() - 1) < 1e-5));
    }

    [Fact]
    public void Cutmix_pastes_a_box_and_labels_by_the_share_of_pixels()
    {
        var (images, labels) = LabelImages(Classes, side: 16);
        using var generator = new Generator(11);
        for (int batch = 0; batch < 20; batch++)
        {
            var (mixed, targets) = BatchMixer.Mix(images, labels, Classes, new AugmentOptions { CutMixAlpha = 1.0 }, generator);
            AssertTargetsMatchImages(mixed, targets);
            // Every pixel is the sample's own value or its partner's: never a blend.
            var own = labels.to(ScalarType.Float32).view(Classes, 1, 1, 1);
            var fromPartner = mixed.ne(own);
            for (int i = 0; i < Classes; i++)
            {
                var pasted = mixed[i].masked_select(fromPartner[i]);
                if (pasted.numel() > 0)
                    Assert.Equal(1, pasted.unique().Item1.numel());
            }
        }
    }

    [Fact]
    public void Same_generator_seed_gives_the_same_mix_and_an_alpha_that_is_not_positive_is_refused()
    {
        var (images, labels) = LabelImages(Classes);
        var options = new AugmentOptions { MixupAlpha = 0.4, CutMixAlpha = 1.0 };
        using var a = new Generator(3);
        using var b = new Generator(3);
        var first = BatchMixer.Mix(images, labels, Classes, options, a);
        var second = BatchMixer.Mix(images, labels, Classes, options, b);
        Assert.Equal(0f, (first.Images - second.Images).abs().max().item<float>());
        Assert.Equal(0f, (first.Targets - second.Targets).abs().max().item<float>());
        var e = Assert.Throws<InvalidInputException>(() => BatchMixer.Mix(images, labels, Classes, new AugmentOptions { MixupAlpha = 0 }, a));
        Assert.Equal("mixup alpha must be > 0, got 0.", e.Message);
    }
}
