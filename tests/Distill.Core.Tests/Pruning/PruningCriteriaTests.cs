using Distill.Core.Pruning;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Pruning;

public class PruningCriteriaTests
{
    [Fact]
    public void TwoFourOnALinearLayerKeepsExactlyTheTwoLargestOfEveryFourInputs()
    {
        manual_seed(1);
        using var weight = randn(8, 16);
        using var mask = PruningCriteria.NM(weight, 2, 4, null);
        var w = weight.data<float>().ToArray();
        var m = mask.data<float>().ToArray();
        for (int row = 0; row < 8; row++)
        {
            for (int group = 0; group < 4; group++)
            {
                var indices = Enumerable.Range(row * 16 + group * 4, 4).ToArray();
                Assert.Equal(2, indices.Count(i => m[i] != 0 && w[i] != 0));
                var kept = indices.Where(i => m[i] == 1).Select(i => Math.Abs(w[i])).ToArray();
                var dropped = indices.Where(i => m[i] == 0).Select(i => Math.Abs(w[i])).ToArray();
                Assert.True(kept.Min() >= dropped.Max(), $"row {row} group {group}: kept {string.Join(",", kept)} dropped {string.Join(",", dropped)}");
            }
        }
    }

    [Fact]
    public void TwoFourOnAConvGroupsAlongInputChannelsAtEachKernelPosition()
    {
        manual_seed(2);
        using var weight = randn(6, 8, 3, 3);
        using var mask = PruningCriteria.NM(weight, 2, 4, null);
        using var pruned = weight.mul(mask);
        // [O, I, kh, kw] → [O, kh, kw, I]: every run of 4 input channels at one (o, kh, kw) has 2 non-zeros.
        using var groups = pruned.permute(0, 2, 3, 1).reshape(-1, 4);
        using var nonZeroPerGroup = groups.ne(0).sum(1);
        Assert.Equal(6 * 3 * 3 * 2, groups.shape[0]);
        Assert.All(nonZeroPerGroup.data<long>().ToArray(), count => Assert.Equal(2, count));
        Assert.Equal(0.5, 1.0 - pruned.count_nonzero().item<long>() / (double)weight.numel(), 12);
    }

    [Fact]
    public void MagnitudeZeroesExactlyTheSmallestFraction()
    {
        manual_seed(3);
        using var weight = randn(25, 40);
        var mask = PruningCriteria.Magnitude([weight], [null], 0.8).Single();
        var w = weight.data<float>().ToArray();
        var m = mask.data<float>().ToArray();
        Assert.Equal(800, m.Count(v => v == 0));
        float largestPruned = w.Where((_, i) => m[i] == 0).Max(Math.Abs);
        float smallestKept = w.Where((_, i) => m[i] == 1).Min(Math.Abs);
        Assert.True(smallestKept >= largestPruned);
        mask.Dispose();
    }

    [Fact]
    public void MagnitudeKeepsEarlierPrunedEntriesPruned()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var weight = randn(10, 10);
        using var old = ones(10, 10);
        // Prune the ten largest entries by hand: a magnitude criterion alone would keep them.
        using var largest = weight.abs().flatten().topk(10).indexes;
        old.view(-1).index_fill_(0, largest, 0.0);
        var mask = PruningCriteria.Magnitude([weight], [old], 0.3).Single();
        using var stillPruned = mask.view(-1).index_select(0, largest);
        Assert.Equal(0, stillPruned.count_nonzero().item<long>());
        // 30 % of 100: the ten old ones first, then the twenty smallest live weights.
        Assert.Equal(30, 100 - mask.count_nonzero().item<long>());
    }

    [Fact]
    public void GlobalRankingPrunesTheSmallLayerHarderThanLayerWiseRanking()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var small = randn(20, 20);
        using var large = randn(20, 20).mul(100);
        var global = PruningCriteria.Magnitude([small, large], [null, null], 0.5);
        var layerSmall = PruningCriteria.Magnitude([small], [null], 0.5).Single();
        var layerLarge = PruningCriteria.Magnitude([large], [null], 0.5).Single();
        // 400 of 800 weights go; every |w| of the large layer is above nearly every |w| of the small one.
        double globalSmall = 1 - global[0].count_nonzero().item<long>() / 400.0;
        double globalLarge = 1 - global[1].count_nonzero().item<long>() / 400.0;
        Assert.True(globalSmall > 0.95, $"global: small layer sparsity {globalSmall}");
        Assert.True(globalLarge < 0.05, $"global: large layer sparsity {globalLarge}");
        Assert.Equal(400, global.Sum(m => 400 - m.count_nonzero().item<long>()));
        Assert.Equal(200, 400 - layerSmall.count_nonzero().item<long>());
        Assert.Equal(200, 400 - layerLarge.count_nonzero().item<long>());
    }

    [Fact]
    public void ChannelScoresAreL1AndL2NormsOfOutputChannels()
    {
        using var weight = tensor(new float[] { 3, -4, 0, 0, 1, 1, 1, 1 }, [2, 2, 2]);
        Assert.Equal([7.0, 4.0], PruningCriteria.ChannelScores(weight, ChannelNorm.L1, null));
        Assert.Equal([5.0, 2.0], PruningCriteria.ChannelScores(weight, ChannelNorm.L2, null));
    }

    [Fact]
    public void ChannelKeepRanksTogetherButLeavesEveryLayerAChannel()
    {
        var keep = PruningCriteria.ChannelKeep([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]], 0.5);
        // 3 of 6 go, lowest first: layer 0 can only lose two (1 and 2), then layer 1's smallest (10).
        Assert.Equal([false, false, true], keep[0]);
        Assert.Equal([false, true, true], keep[1]);
    }
}
