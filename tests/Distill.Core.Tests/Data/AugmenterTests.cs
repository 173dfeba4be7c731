using Distill.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Data;

public class AugmenterTests
{
    [Fact]
    public void NoShiftNoFlipIsIdentity()
    {
        using var scope = NewDisposeScope();
        var images = Images();
        var output = Augmenter.Apply(images, new AugmentOptions { MaxShift = 0, HorizontalFlip = false }, new Generator(1));
        Assert.Equal(images.shape, output.shape);
        Assert.True(TestData.SameValues(output, images));
    }

    [Fact]
    public void EverySampleIsAZeroPaddedShiftWithinRange()
    {
        using var scope = NewDisposeScope();
        var images = Images();
        var output = Augmenter.Apply(images, new AugmentOptions { MaxShift = 2 }, new Generator(5));

        Assert.Equal(images.shape, output.shape);
        float[] input = images.data<float>().ToArray(), result = output.data<float>().ToArray();
        var offsets = new HashSet<(int, int)>();
        for (int n = 0; n < 32; n++)
        {
            var match = Shifts(2).Where(s => ShiftMatches(input, result, n, s.Dy, s.Dx)).ToList();
            Assert.Single(match);
            offsets.Add(match[0]);
        }
        // 32 samples, 25 possible shifts: seeing only a few would mean the shift is not random.
        Assert.True(offsets.Count > 5, $"only {offsets.Count} distinct shifts");
    }

    [Fact]
    public void FlipOnlyFlipsSomeSamplesAndLeavesTheOthers()
    {
        using var scope = NewDisposeScope();
        var images = Images();
        var output = Augmenter.Apply(images, new AugmentOptions { HorizontalFlip = true }, new Generator(11));

        int flipped = 0, kept = 0;
        for (int n = 0; n < images.shape[0]; n++)
        {
            bool same = TestData.SameValues(output[n], images[n]);
            bool mirrored = TestData.SameValues(output[n], images[n].flip(2));
            Assert.True(same || mirrored);
            flipped += mirrored ? 1 : 0;
            kept += same ? 1 : 0;
        }
        Assert.InRange(flipped, 1, 31);
        Assert.InRange(kept, 1, 31);
    }

    [Fact]
    public void SameGeneratorSeedSameOutput()
    {
        using var scope = NewDisposeScope();
        var images = Images();
        var options = new AugmentOptions { MaxShift = 3, HorizontalFlip = true };
        var a = Augmenter.Apply(images, options, new Generator(42));
        var b = Augmenter.Apply(images, options, new Generator(42));
        var c = Augmenter.Apply(images, options, new Generator(43));
        Assert.True(TestData.SameValues(a, b));
        Assert.False(TestData.SameValues(a, c));
    }

    /// <summary>32 distinct, asymmetric 2-channel 6x7 images (values 1.. so zero padding is visible).</summary>
    private static Tensor Images() =>
        arange(1, 32 * 2 * 6 * 7 + 1, dtype: ScalarType.Float32).reshape(32, 2, 6, 7);

    private static IEnumerable<(int Dy, int Dx)> Shifts(int max) =>
        from dy in Enumerable.Range(-max, 2 * max + 1)
        from dx in Enumerable.Range(-max, 2 * max + 1)
        select (dy, dx);

    /// <summary>Reference check written independently of the gather-based implementation:
    /// out[c, i, j] = in[c, i - dy, j - dx], or 0 where that falls outside the image.</summary>
    private static bool ShiftMatches(float[] input, float[] output, int n, int dy, int dx)
    {
        const int C = 2, H = 6, W = 7;
        for (int c = 0; c < C; c++)
        {
            for (int i = 0; i < H; i++)
            {
                for (int j = 0; j < W; j++)
                {
                    int si = i - dy, sj = j - dx;
                    float expected = si >= 0 && si < H && sj >= 0 && sj < W ? input[((n * C + c) * H + si) * W + sj] : 0f;
                    if (output[((n * C + c) * H + i) * W + j] != expected)
                    {
                        return false;
                    }
                }
            }
        }
        return true;
    }
}
