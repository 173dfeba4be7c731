using Distill.Core.Pruning;

namespace Distill.Core.Tests.Pruning;

public class LayerSelectionTests
{
    private static string[] Names(IReadOnlyList<SelectedLayer> layers) => layers.Select(l => l.Layer.Name).ToArray();

    [Fact]
    public void PrunableLayersAreConvAndLinearWeightsInForwardOrder()
    {
        using var model = PruningModels.BuildCnn(1);
        Assert.Equal(
            ["block0.conv.weight", "block1.depthwise.weight", "block1.conv.weight", "block2.conv.weight", "head.fc0.weight", "head.out.weight"],
            PrunableLayers.Of(model).Select(l => l.Name).ToArray());
    }

    [Fact]
    public void FirstAndLastLayersStayDenseByDefault()
    {
        using var model = PruningModels.BuildCnn(1);
        var selected = LayerSelection.Select(model, new PruneOptions(), "p");
        Assert.Equal(["block1.depthwise.weight", "block1.conv.weight", "block2.conv.weight", "head.fc0.weight"], Names(selected));
        var all = LayerSelection.Select(model, new PruneOptions { KeepFirstLastDense = false }, "p");
        Assert.Equal(6, all.Count);
    }

    [Fact]
    public void PatternsExcludesAndOverridesSelectByGlob()
    {
        using var model = PruningModels.BuildCnn(1);
        var options = new PruneOptions
        {
            Layers = [new("block?.conv.weight"), new("head.*")],
            Exclude = [new("block2.*")],
            Overrides = [new LayerSparsity("head.fc*", 0.3)],
        };
        var selected = LayerSelection.Select(model, options, "p");
        Assert.Equal(["block1.conv.weight", "head.fc0.weight"], Names(selected));
        Assert.Equal([null, 0.3], selected.Select(l => l.Override).ToArray());
    }

    [Fact]
    public void ChannelPruningActsOnBlockConvsAndHiddenHeadLayersOnly()
    {
        using var model = PruningModels.BuildCnn(1);
        var selected = LayerSelection.Select(model, new PruneOptions { Method = PruneMethod.Channel, KeepFirstLastDense = false }, "p");
        Assert.Equal(["block0.conv.weight", "block1.conv.weight", "block2.conv.weight", "head.fc0.weight"], Names(selected));
        var error = Assert.Throws<InvalidInputException>(() => LayerSelection.Select(model,
            new PruneOptions { Method = PruneMethod.Channel, Layers = [new("*.depthwise.weight", "r.yaml:9:11")] }, "p"));
        Assert.StartsWith("r.yaml:9:11: stage 'p': prune: layers pattern '*.depthwise.weight' matches only block1.depthwise.weight", error.Message);
    }

    [Fact]
    public void PatternMatchingNothingNamesTheLineTheStageThePatternAndThePrunableLayers()
    {
        using var model = PruningModels.BuildCnn(1);
        var options = new PruneOptions { Layers = [new("block1.conv.weight", "r.yaml:30:9"), new("blok*", "r.yaml:31:9")], Where = "r.yaml:28:5" };
        var error = Assert.Throws<InvalidInputException>(() => LayerSelection.Select(model, options, "sparsify"));
        Assert.Equal(
            "r.yaml:31:9: stage 'sparsify': prune: layers pattern 'blok*' matches no layer; the student's prunable layers are: " +
            "block0.conv.weight, block1.depthwise.weight, block1.conv.weight, block2.conv.weight, head.fc0.weight, head.out.weight",
            error.Message);
    }

    [Fact]
    public void NmWhoseGroupSizeDoesNotDivideTheInputSizeIsRejected()
    {
        using var model = PruningModels.BuildCnn(1);
        // block1.conv has 8 input channels; head.fc0 has 12·2·2 = 48 inputs.
        var ok = LayerSelection.Select(model, new PruneOptions { Method = PruneMethod.NM, N = 2, M = 4 }, "p");
        Assert.Equal(["block1.conv.weight", "block2.conv.weight", "head.fc0.weight"], Names(ok));
        var error = Assert.Throws<InvalidInputException>(() =>
            LayerSelection.Select(model, new PruneOptions { Method = PruneMethod.NM, N = 2, M = 3, Where = "r.yaml:12:5" }, "p"));
        Assert.StartsWith("r.yaml:12:5: stage 'p': prune: 2:3 pruning needs M = 3 to divide the input size of every selected layer, but block1.conv.weight has input size 8", error.Message);
    }

    [Fact]
    public void SelectingNothingIsAnError()
    {
        using var model = PruningModels.BuildCnn(1);
        var error = Assert.Throws<InvalidInputException>(() =>
            LayerSelection.Select(model, new PruneOptions { Layers = [new("head.out.weight")], Where = "r.yaml:3:3" }, "p"));
        Assert.Contains("selects no layer to prune (block0.conv.weight and head.out.weight stay dense while keep_first_last_dense is true)", error.Message);
    }
}
