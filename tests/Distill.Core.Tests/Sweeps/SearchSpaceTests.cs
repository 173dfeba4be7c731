using System.Globalization;
using Distill.Core.Sweeps;

namespace Distill.Core.Tests.Sweeps;

public sealed class SearchSpaceTests
{
    [Fact]
    public void Grid_IsEveryCombination_LastAxisFastest()
    {
        var space = new SearchSpace([new GridAxis("a", ["1", "2"]), new GridAxis("b", ["x", "y", "z"])], []);

        var trials = space.Expand();

        Assert.Equal(["a=1 b=x", "a=1 b=y", "a=1 b=z", "a=2 b=x", "a=2 b=y", "a=2 b=z"], trials.Select(t => t.ToString()));
        Assert.Equal(Enumerable.Range(0, 6), trials.Select(t => t.Index));
    }

    [Fact]
    public void RandomDraws_AreSeeded_InRange_AndCombinedWithEveryGridPoint()
    {
        var space = new SearchSpace([new GridAxis("seed", ["1", "2"])],
            [new RandomAxis("lr", new LogUniform(1e-4, 1e-2)), new RandomAxis("t", new Uniform(1, 8)), new RandomAxis("arch", new Choice(["mlp", "cnn"]))],
            RandomTrials: 5, Seed: 11);

        var trials = space.Expand();

        Assert.Equal(10, trials.Count);
        Assert.Equal(trials.Select(t => t.ToString()), space.Expand().Select(t => t.ToString()));
        Assert.NotEqual(trials.Select(t => t.ToString()), (space with { Seed = 12 }).Expand().Select(t => t.ToString()));
        foreach (var trial in trials)
        {
            double lr = double.Parse(trial.Values.Single(v => v.Key == "lr").Value, CultureInfo.InvariantCulture);
            double t = double.Parse(trial.Values.Single(v => v.Key == "t").Value, CultureInfo.InvariantCulture);
            Assert.InRange(lr, 1e-4, 1e-2);
            Assert.InRange(t, 1, 8);
            Assert.Contains(trial.Values.Single(v => v.Key == "arch").Value, new[] { "mlp", "cnn" });
        }
        // A draw is shared by both grid points: trials 0 and 1 differ only in seed.
        Assert.Equal(trials[0].Values.Skip(1), trials[1].Values.Skip(1));
    }

    [Theory]
    [InlineData("uniform(0,1)", "uniform(0,1)")]
    [InlineData(" loguniform(1e-4, 1e-2) ", "loguniform(0.0001,0.01)")]
    [InlineData("choice(mlp, cnn,[8,16])", "choice(mlp,cnn,[8,16])")]
    public void Distributions_ParseAndPrint(string text, string printed) => Assert.Equal(printed, Distribution.Parse(text).ToString());

    [Theory]
    [InlineData("uniform(1,0)", "a < b")]
    [InlineData("loguniform(0,1)", "0 < a")]
    [InlineData("uniform(1)", "two numbers")]
    [InlineData("unifrom(0,1)", "did you mean 'uniform'")]
    [InlineData("choice()", "at least one value")]
    [InlineData("0.1", "not a distribution")]
    public void BadDistributions_SayWhatIsWrong(string text, string message) =>
        Assert.Contains(message, Assert.Throws<FormatException>(() => Distribution.Parse(text)).Message, StringComparison.Ordinal);

    [Fact]
    public void ValueLists_SplitOnlyOutsideBrackets() =>
        Assert.Equal(["[8,16]", "[32]", "'a,b'"], ValueList.Split("[8,16], [32],'a,b'"));

    [Fact]
    public void AnEmptyValueList_ADuplicateKey_OrNoSpace_IsBadInput()
    {
        Assert.Contains("empty", Assert.Throws<InvalidInputException>(() => new SearchSpace([new GridAxis("a", [])], []).Expand()).Message, StringComparison.Ordinal);
        Assert.Contains("more than once", Assert.Throws<InvalidInputException>(() =>
            new SearchSpace([new GridAxis("a", ["1"])], [new RandomAxis("a", new Uniform(0, 1))]).Expand()).Message, StringComparison.Ordinal);
        Assert.Contains("no search space", Assert.Throws<InvalidInputException>(() => new SearchSpace([], []).Expand()).Message, StringComparison.Ordinal);
    }
}
