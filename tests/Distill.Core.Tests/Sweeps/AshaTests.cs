using Distill.Core.Sweeps;

namespace Distill.Core.Tests.Sweeps;

public sealed class AshaTests
{
    [Fact]
    public void TheFirstTrialAtARungGoesOn_LaterOnesOnlyInTheTopThird()
    {
        var asha = new Asha(graceEpochs: 1, reduction: 3, maximize: true);

        Assert.Null(asha.Report(0, 1, 0.50)); // first at rung 1
        Assert.Null(asha.Report(1, 1, 0.60)); // cutoff = 0.50 (one value)
        // Recorded {0.50, 0.60}: the 2/3 quantile is 0.50 + (0.60 − 0.50)·(2/3·1) = 0.5667.
        string? stop = asha.Report(2, 1, 0.55);
        Assert.NotNull(stop);
        Assert.Contains("epoch 1: 0.55 is below the cutoff 0.5667 of the 2 trial(s)", stop, StringComparison.Ordinal);
        Assert.Null(asha.Report(3, 1, 0.58));
        // Epoch 2 is no rung; the next is 3.
        Assert.Null(asha.Report(0, 2, 0.10));
        Assert.Null(asha.Report(0, 3, 0.70));
        Assert.NotNull(asha.Report(1, 3, 0.65));
        // A trial is judged once per rung.
        Assert.Null(asha.Report(3, 1, 0.01));
    }

    [Fact]
    public void WhenSmallerIsBetter_TheCutoffIsTheLowerThird()
    {
        var asha = new Asha(graceEpochs: 2, reduction: 3, maximize: false);

        Assert.Null(asha.Report(0, 1, 9.0)); // before the first rung (epoch 2)
        Assert.Null(asha.Report(0, 2, 0.30));
        Assert.Contains("0.6 is above the cutoff 0.3 of the 1 trial(s)", asha.Report(1, 2, 0.60), StringComparison.Ordinal); // recorded all the same
        // Recorded {0.30, 0.60}: the 1/3 quantile is 0.40; 0.45 is above it.
        Assert.Contains("0.45 is above the cutoff 0.4", asha.Report(2, 2, 0.45), StringComparison.Ordinal);
        Assert.Null(asha.Report(3, 2, 0.35));
    }

    [Fact]
    public void AReportPastSeveralRungs_IsJudgedAtTheHighestOneReached()
    {
        var asha = new Asha(graceEpochs: 1, reduction: 2, maximize: true);
        Assert.Null(asha.Report(0, 4, 0.9)); // rungs 1, 2, 4: recorded at 4
        Assert.NotNull(asha.Report(1, 4, 0.8));
        Assert.Null(asha.Report(2, 1, 0.1)); // rung 1 has nothing recorded yet
    }
}
