using Distill.Core.Export;
using Distill.Core.Export.Targets;

namespace Distill.Core.Tests.Export;

public sealed class VerificationSampleTests
{
    /// <summary>Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics in Medicine
    /// 17:857–872, table I, method 3 (score interval without continuity correction), to the 4 decimals printed there.</summary>
    [Theory]
    [InlineData(81, 263, 0.2553, 0.3662)]
    [InlineData(15, 148, 0.0624, 0.1605)]
    [InlineData(0, 20, 0.0, 0.1611)]
    [InlineData(1, 29, 0.0061, 0.1718)]
    public void Wilson_interval_matches_newcombes_table(long successes, long n, double low, double high)
    {
        var (l, h) = VerificationSample.Wilson(successes, n);
        Assert.Equal(low, l, 4);
        Assert.Equal(high, h, 4);
    }

    [Fact]
    public void A_sample_of_a_thousand_pins_a_ninety_percent_accuracy_to_about_two_points()
    {
        // The default Arm NN sample: ±1.9 points at 90 %, against ±0.6 on all 10,000 Fashion-MNIST test images.
        var (low, high) = VerificationSample.Wilson(900, 1000);
        Assert.Equal(0.0186, (high - low) / 2, 4);
        var (allLow, allHigh) = VerificationSample.Wilson(9000, 10000);
        Assert.Equal(0.0059, (allHigh - allLow) / 2, 4);
        Assert.Equal((0.0, 1.0), (VerificationSample.Wilson(0, 1).Low, VerificationSample.Wilson(1, 1).High));
    }

    [Fact]
    public void Sample_is_stratified_by_label_seeded_sorted_and_everything_when_asked_for_more()
    {
        // 600 of class 0, 300 of class 1, 100 of class 2, interleaved.
        var labels = Enumerable.Range(0, 1000).Select(i => (long)(i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2)).ToArray();
        var picked = VerificationSample.Pick(labels, 100, seed: 7);
        Assert.Equal(100, picked.Length);
        Assert.Equal(picked.Order(), picked);
        Assert.Equal(picked.Length, picked.Distinct().Count());
        Assert.Equal([60, 30, 10], picked.GroupBy(i => labels[i]).OrderBy(g => g.Key).Select(g => g.Count()));
        Assert.Equal(picked, VerificationSample.Pick(labels, 100, seed: 7));
        Assert.NotEqual(picked, VerificationSample.Pick(labels, 100, seed: 8));

        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), VerificationSample.Pick(labels, 1000, seed: 7));
        Assert.Equal(1000, VerificationSample.Pick(labels, VerificationSample.All, seed: 7).Length);
    }

    [Fact]
    public void Arm_nn_samples_a_thousand_by_default_and_onnx_runtime_runs_all()
    {
        Assert.Equal(1000, ExportBackends.Get("tflite").DefaultVerifySamples);
        Assert.Equal(VerificationSample.All, ExportBackends.Get("onnx").DefaultVerifySamples);
    }
}
