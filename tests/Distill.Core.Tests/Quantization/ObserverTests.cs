using Distill.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Quantization;

public class ObserverTests
{
    [Fact]
    public void MinMaxIsTheExactExtremeOverAllBatches()
    {
        using var scope = NewDisposeScope();
        var observer = new MinMaxObserver();
        observer.Observe(tensor(new float[] { -1.5f, 2f, 0.25f }));
        observer.Observe(tensor(new float[] { -0.5f, 7.125f }));
        var range = observer.ComputeRange();
        Assert.Equal(new[] { -1.5f }, range.Min);
        Assert.Equal(new[] { 7.125f }, range.Max);
    }

    [Fact]
    public void PerChannelMinMaxReducesOverEveryOtherAxis()
    {
        torch.manual_seed(5);
        using var scope = NewDisposeScope();
        var w = randn(4, 3, 2, 2);
        var observer = (MinMaxObserver)Observers.Create(ObserverKind.MinMax, QuantScheme.WeightInt8PerChannel);
        observer.Observe(w);
        var range = observer.ComputeRange();
        Assert.Equal(w.amin([1, 2, 3]).data<float>().ToArray(), range.Min);
        Assert.Equal(w.amax([1, 2, 3]).data<float>().ToArray(), range.Max);

        var byAxis1 = new MinMaxObserver(channelAxis: 1);
        byAxis1.Observe(w);
        Assert.Equal(w.amax([0, 2, 3]).data<float>().ToArray(), byAxis1.ComputeRange().Max);
    }

    [Fact]
    public void MovingAverageStartsAtTheFirstBatchThenMovesByMomentum()
    {
        using var scope = NewDisposeScope();
        var observer = new MovingAverageMinMaxObserver(momentum: 0.5);
        observer.Observe(tensor(new float[] { -1f, 1f }));
        observer.Observe(tensor(new float[] { -3f, 5f }));
        var range = observer.ComputeRange();
        Assert.Equal(new[] { -2f }, range.Min);
        Assert.Equal(new[] { 3f }, range.Max);
        observer.Observe(tensor(new float[] { 0f, 1f }));
        Assert.Equal(new[] { -1f }, observer.ComputeRange().Min);
        Assert.Equal(new[] { 2f }, observer.ComputeRange().Max);
    }

    [Fact]
    public void PercentileOfARampIsItsEndWithinABin()
    {
        using var scope = NewDisposeScope();
        var ramp = arange(0, 10000).to_type(ScalarType.Float32);
        var observer = new PercentileObserver(99.99, bins: 2048);
        observer.Observe(ramp);
        var range = observer.ComputeRange();
        double binWidth = 9999.0 / 2048;
        // 99.99 % of 10000 samples lie at or below 9998; the 0.01 % tail is the last sample.
        Assert.InRange(range.Max[0], 9999 - binWidth, 9999);
        Assert.InRange(range.Min[0], 0, binWidth);
    }

    [Fact]
    public void PercentileOfARampSeenInGrowingBatchesStaysWithinTwoBins()
    {
        using var scope = NewDisposeScope();
        var observer = new PercentileObserver(99.0, bins: 2048);
        // The histogram widens three times and re-bins its counts each time.
        foreach (var (start, end) in new[] { (4000, 5000), (0, 4000), (5000, 8000), (8000, 10000) })
        {
            observer.Observe(arange(start, end).to_type(ScalarType.Float32));
        }
        double binWidth = 9999.0 / 2048;
        var range = observer.ComputeRange();
        Assert.InRange(range.Max[0], 9899 - 2 * binWidth, 9899 + 2 * binWidth);
        Assert.InRange(range.Min[0], 100 - 2 * binWidth, 100 + 2 * binWidth);
    }

    [Fact]
    public void PercentileIgnoresOneHugeOutlier()
    {
        using var scope = NewDisposeScope();
        var sample = cat([arange(0, 10000).to_type(ScalarType.Float32), tensor(new[] { 1e6f })]);
        var observer = new PercentileObserver(99.9);
        observer.Observe(sample);
        var max = observer.ComputeRange().Max[0];
        // The true 99.9th percentile of the sample is about 9990; one bin is 1e6/2048 ≈ 488 wide.
        Assert.InRange(max, 9990 - 490, 9990 + 490);

        var minMax = new MinMaxObserver();
        minMax.Observe(sample);
        Assert.Equal(1e6f, minMax.ComputeRange().Max[0]);
    }

    [Fact]
    public void EntropyThresholdOnGaussianDataLiesBetweenTwoSigmaAndTheMaximum()
    {
        using var scope = NewDisposeScope();
        var data = GaussianWithOutliers(50_000, seed: 21);
        var observer = (EntropyObserver)Observers.Create(ObserverKind.Entropy, new QuantScheme { Symmetric = true });
        observer.Observe(data);
        Assert.Equal(128, observer.QuantizedBins);
        var range = observer.ComputeRange();
        float threshold = range.Max[0];
        Assert.Equal(-threshold, range.Min[0]);
        Assert.InRange(threshold, 2f, 12f * 0.9f);
    }

    [Fact]
    public void EntropyOnNonNegativeDataUsesAllLevelsOfAnAsymmetricScheme()
    {
        using var scope = NewDisposeScope();
        var observer = new EntropyObserver(QuantScheme.ActivationUInt8);
        var relu = nn.functional.relu(GaussianWithOutliers(50_000, seed: 22));
        observer.Observe(relu);
        Assert.Equal(256, observer.QuantizedBins);
        var range = observer.ComputeRange();
        Assert.Equal(0f, range.Min[0]);
        Assert.InRange(range.Max[0], 2f, 12f * 0.9f);
    }

    [Fact]
    public void MseClipLiesBetweenTwoSigmaAndTheMaximumAndBeatsMinMax()
    {
        using var scope = NewDisposeScope();
        var data = GaussianWithOutliers(200_000, seed: 23);
        var scheme = new QuantScheme { Symmetric = true };
        var mse = Observers.Create(ObserverKind.Mse, scheme);
        mse.Observe(data);
        var clipped = mse.ComputeRange();
        float clip = Math.Max(-clipped.Min[0], clipped.Max[0]);
        Assert.InRange(clip, 2f, 12f * 0.9f);

        var minMax = Observers.Create(ObserverKind.MinMax, scheme);
        minMax.Observe(data);
        double ErrorWith(QRange range) =>
            (FakeQuant.Apply(data, QParams.FromRange(scheme, range)) - data).square().mean().item<float>();
        Assert.True(ErrorWith(clipped) < ErrorWith(minMax.ComputeRange()),
            $"MSE-clipped error {ErrorWith(clipped)} should be below min-max error {ErrorWith(minMax.ComputeRange())}");
    }

    [Fact]
    public void ObserversThatSawNothingSaySo()
    {
        var scheme = new QuantScheme();
        foreach (var kind in Enum.GetValues<ObserverKind>())
        {
            var observer = Observers.Create(kind, scheme);
            Assert.False(observer.HasObserved);
            Assert.Throws<InvalidOperationException>(() => observer.ComputeRange());
        }
    }

    [Fact]
    public void ResetForgetsEarlierBatches()
    {
        using var scope = NewDisposeScope();
        foreach (var kind in Enum.GetValues<ObserverKind>())
        {
            var observer = Observers.Create(kind, new QuantScheme());
            observer.Observe(tensor(new float[] { -100f, 100f }));
            observer.Reset();
            observer.Observe(linspace(-1, 1, 4001));
            var range = observer.ComputeRange();
            Assert.InRange(range.Max[0], 0.5f, 1f);
            Assert.InRange(range.Min[0], -1f, -0.5f);
        }
    }

    [Fact]
    public void BadObserverSettingsAreRejected()
    {
        Assert.Throws<InvalidInputException>(() => Observers.Create(ObserverKind.Percentile, QuantScheme.WeightInt8PerChannel));
        Assert.Throws<InvalidInputException>(() => Observers.Create(ObserverKind.Entropy, QuantScheme.WeightInt8PerChannel));
        Assert.Throws<InvalidInputException>(() => Observers.Create(ObserverKind.Percentile, new QuantScheme(), new ObserverOptions { Percentile = 101 }));
        Assert.Throws<InvalidInputException>(() => Observers.Create(ObserverKind.MovingAverageMinMax, new QuantScheme(), new ObserverOptions { Momentum = 0 }));
        Assert.Throws<InvalidInputException>(() => Observers.Create(ObserverKind.Mse, new QuantScheme(), new ObserverOptions { Bins = 10 }));
        using var scope = NewDisposeScope();
        var observer = new PercentileObserver();
        Assert.Throws<InvalidInputException>(() => observer.Observe(tensor(new[] { 1f, float.NaN })));
    }

    /// <summary>Samples of N(0, 1) plus five outliers up to |12|, from a private generator (other test
    /// classes reseed the global one in parallel).</summary>
    private static Tensor GaussianWithOutliers(long count, ulong seed)
    {
        using var generator = new Generator(seed, new Device(DeviceType.CPU));
        return cat([randn([count], generator: generator), tensor(new[] { 12f, -11.5f, 10f, -9f, 11f })]);
    }
}
