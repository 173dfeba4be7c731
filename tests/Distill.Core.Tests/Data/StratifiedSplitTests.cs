using Distill.Core.Data;

namespace Distill.Core.Tests.Data;

public class StratifiedSplitTests
{
    [Fact]
    public void PicksAreDisjointCoverEverythingAndKeepClassProportions()
    {
        long[] labels = CsvTable.Read(TestData.DigitsCsv, hasHeader: false, labelColumn: null).Labels;
        var (picked, others) = StratifiedSplit.Pick(labels, 300, seed: 17);

        Assert.Equal(300, picked.Length);
        Assert.Empty(picked.Intersect(others));
        Assert.Equal(Enumerable.Range(0, labels.Length).Select(i => (long)i), picked.Concat(others).Order());
        foreach (var group in labels.GroupBy(l => l))
        {
            double expected = group.Count() * 300.0 / labels.Length;
            int actual = picked.Count(i => labels[i] == group.Key);
            Assert.InRange(actual, expected - 1, expected + 1);
        }
    }

    [Fact]
    public void SameSeedSamePickOtherSeedOtherPick()
    {
        long[] labels = CsvTable.Read(TestData.DigitsCsv, hasHeader: false, labelColumn: null).Labels;
        Assert.Equal(StratifiedSplit.Pick(labels, 200, 1).Picked, StratifiedSplit.Pick(labels, 200, 1).Picked);
        Assert.NotEqual(StratifiedSplit.Pick(labels, 200, 1).Picked, StratifiedSplit.Pick(labels, 200, 2).Picked);
    }
}
