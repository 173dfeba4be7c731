using Distill.Core.Pruning;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>The prune section of a stage: binding, defaults, and errors at their exact positions.
/// <see cref="Recipes.Minimal"/>'s stage mapping starts at 8:5, so appended lines are 9, 10, ….</summary>
public class PruneRecipeTests
{
    private static string WithPrune(string prune) => Minimal + "\n    epochs: 6\n    prune:\n" + prune;

    [Fact]
    public void GradualMagnitudeSectionBindsWithDefaultsAndPositions()
    {
        var plan = Load(WithPrune("""
                  sparsity: 0.8
                  schedule: gradual
                  end_epoch: 4
                  layers: ["head.*"]
                  overrides: [{ layer: head.fc0.weight, sparsity: 0.5 }]
            """));
        var prune = plan.Stages[0].Prune!;
        Assert.Equal(PruneMethod.Magnitude, prune.Method);
        Assert.Equal(PruneRanking.Global, prune.Ranking);
        Assert.Equal(0.8, prune.Sparsity);
        Assert.Equal(PruneSchedule.Gradual, prune.Schedule);
        Assert.Equal(0.0, prune.StartEpoch);
        Assert.Equal(4.0, prune.EndEpoch);
        Assert.Equal(50, prune.UpdateEvery);
        Assert.True(prune.KeepFirstLastDense);
        Assert.Equal("recipe.yaml:10:5", prune.Where);
        Assert.Equal([new LayerPattern("head.*", "recipe.yaml:14:16")], prune.Layers);
        Assert.Equal("head.fc0.weight", Assert.Single(prune.Overrides).Glob);
        Assert.Equal(0.5, prune.Overrides[0].Sparsity);
        Assert.False(prune.Shrink);
    }

    [Fact]
    public void ChannelDefaultsToLayerRankingAndL1AndNmToTwoFour()
    {
        var channel = Load(WithPrune("      method: channel\n      sparsity: 0.5\n      shrink: true")).Stages[0].Prune!;
        Assert.Equal((PruneMethod.Channel, PruneRanking.Layer, ChannelNorm.L1, true), (channel.Method, channel.Ranking, channel.Norm, channel.Shrink));
        var nm = Load(WithPrune("      method: n_m")).Stages[0].Prune!;
        Assert.Equal((PruneMethod.NM, 2, 4, PruneSchedule.OneShot), (nm.Method, nm.N, nm.M, nm.Schedule));
        Assert.Null(Load(Minimal).Stages[0].Prune);
    }

    [Fact]
    public void StudentCheckpointBinds()
    {
        var plan = Load(Minimal.Replace("  model: { arch: mlp, hidden: [32] }", "  model: { arch: mlp, hidden: [32] }\n  checkpoint: fashion-mnist/t10k-labels-idx1-ubyte.gz"));
        Assert.EndsWith("fashion-mnist/t10k-labels-idx1-ubyte.gz", plan.Student.Checkpoint);
    }

    [Theory]
    // "      sparsity: " is 16 characters: the value starts at column 17 of line 11.
    // "      overrides: [{ layer: x, sparsity: " is 40 characters.
    [InlineData("      sparsity: 1", 11, 17, "stages[0].prune.sparsity: must be in [0, 1), got 1")]
    [InlineData("      sparsity: -0.1", 11, 17, "stages[0].prune.sparsity: must be in [0, 1), got -0.1")]
    [InlineData("      sparsity: 0.5\n      overrides: [{ layer: x, sparsity: 1.5 }]", 12, 41, "stages[0].prune.overrides[0].sparsity: must be in [0, 1), got 1.5")]
    [InlineData("      method: n_m\n      n: 4\n      m: 4", 12, 7, "stages[0].prune.n: must be less than m (4:4 would keep every weight)")]
    [InlineData("      method: n_m\n      schedule: gradual", 12, 7, "stages[0].prune.schedule: n_m pruning is one_shot")]
    [InlineData("      sparsity: 0.5\n      schedule: gradual\n      end_epoch: 7", 13, 7, "stages[0].prune.end_epoch: 7 is after the end of the stage (6 epochs)")]
    [InlineData("      sparsity: 0.5\n      start_epoch: 6", 12, 7, "stages[0].prune.start_epoch: 6 is not before the end of the stage (6 epochs)")]
    // A missing key points at the mapping that lacks it, which starts at its first key.
    [InlineData("      method: magnitude", 11, 7, "stages[0].prune: missing required key 'sparsity'")]
    [InlineData("      method: n_m\n      sparsity: 0.5", 12, 7, "stages[0].prune.sparsity: only allowed when stages[0].prune.method is magnitude or channel")]
    [InlineData("      sparsity: 0.5\n      shrink: true", 12, 7, "stages[0].prune.shrink: only allowed when stages[0].prune.method is channel")]
    public void BadPruneSectionsAreReportedAtTheirLine(string prune, int line, int column, string message)
    {
        AssertAt(Single(WithPrune(prune)), line, column, message);
    }

    [Fact]
    public void PruneInTheTeachersTrainingStageIsRejected()
    {
        var recipe = Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  train:\n    prune: { sparsity: 0.5 }\nstages:");
        // teacher.train starts at line 9; "    prune" puts the key at column 5 of line 10.
        AssertAt(Single(recipe), 10, 5, "teacher.train: 'prune' is not allowed here: pruning acts on the student");
    }
}
