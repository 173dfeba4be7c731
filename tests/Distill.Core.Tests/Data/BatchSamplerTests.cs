using Distill.Core.Data;

namespace Distill.Core.Tests.Data;

public class BatchSamplerTests
{
    [Theory]
    [InlineData(1797, 64, true)]
    [InlineData(100, 10, false)]
    [InlineData(5, 8, true)]
    public void EveryIndexExactlyOncePerEpoch(long count, int batchSize, bool shuffle)
    {
        var batches = BatchSampler.Batches(count, batchSize, shuffle, seed: 3);

        Assert.Equal((count + batchSize - 1) / batchSize, batches.Count);
        Assert.All(batches.SkipLast(1), b => Assert.Equal(batchSize, b.Length));
        Assert.Equal(count - (batches.Count - 1) * batchSize, batches[^1].Length);
        Assert.Equal(Enumerable.Range(0, (int)count).Select(i => (long)i), batches.SelectMany(b => b).Order());
    }

    [Fact]
    public void UnshuffledBatchesAreInOrder()
    {
        var batches = BatchSampler.Batches(7, 3, shuffle: false, seed: 99);
        Assert.Equal(new[] { new long[] { 0, 1, 2 }, [3, 4, 5], [6] }, batches);
    }

    [Fact]
    public void SameSeedSameBatchesOtherSeedOtherOrder()
    {
        var a = BatchSampler.Batches(1000, 32, shuffle: true, seed: 7).SelectMany(b => b).ToArray();
        var b = BatchSampler.Batches(1000, 32, shuffle: true, seed: 7).SelectMany(b => b).ToArray();
        var c = BatchSampler.Batches(1000, 32, shuffle: true, seed: 8).SelectMany(b => b).ToArray();

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(Enumerable.Range(0, 1000).Select(i => (long)i), a);
    }

    [Fact]
    public void EmptyDatasetGivesNoBatches()
    {
        Assert.Empty(BatchSampler.Batches(0, 16, shuffle: true, seed: 1));
    }
}
