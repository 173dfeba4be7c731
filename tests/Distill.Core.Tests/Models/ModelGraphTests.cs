using Distill.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

public class ModelGraphTests
{
    [Fact]
    public void CnnGraphListsItsNodesOnceInForwardOrder()
    {
        var spec = new ModelSpec { Arch = ModelArch.Cnn, Channels = [4, 6], Depthwise = [false, true], Pool = [true, false], Hidden = [5], Dropout = 0.1 };
        using var model = ModelZoo.Build(spec, [1, 8, 8], 3);
        var graph = model.Graph;
        // block0: 8x8 conv (padding 1) → 8x8, pooled to 4x4; block1 keeps 4x4; features 6·4·4 = 96.
        (string, LayerKind, long[])[] expected =
        [
            ("block0.conv", LayerKind.Conv, [4, 8, 8]), ("block0.bn", LayerKind.BatchNorm, [4, 8, 8]), ("block0.conv.relu", LayerKind.Relu, [4, 8, 8]),
            ("block0.pool", LayerKind.MaxPool, [4, 4, 4]),
            ("block1.depthwise", LayerKind.Depthwise, [4, 4, 4]), ("block1.depthwise_bn", LayerKind.BatchNorm, [4, 4, 4]),
            ("block1.depthwise.relu", LayerKind.Relu, [4, 4, 4]),
            ("block1.conv", LayerKind.Conv, [6, 4, 4]), ("block1.bn", LayerKind.BatchNorm, [6, 4, 4]), ("block1.conv.relu", LayerKind.Relu, [6, 4, 4]),
            ("head.flatten", LayerKind.Flatten, [96]), ("head.dropout_in", LayerKind.Dropout, [96]),
            ("head.fc0", LayerKind.Linear, [5]), ("head.fc0.relu", LayerKind.Relu, [5]), ("head.out", LayerKind.Linear, [3]),
        ];
        Assert.Equal(expected.Select(e => e.Item1), graph.Nodes.Select(n => n.Name));
        Assert.Equal(expected.Select(e => e.Item2), graph.Nodes.Select(n => n.Kind));
        Assert.All(expected, e => Assert.Equal(e.Item3, graph[e.Item1].Shape));
        // A chain: every node reads the one before it.
        Assert.Equal([ModelGraph.InputName, .. graph.Nodes.SkipLast(1).Select(n => n.Name)], graph.Nodes.Select(n => n.Inputs.Single()));
        // Each tap sits on a node whose shape is the tap's.
        Assert.Equal(["block0.pool", "block1.conv.relu", "head.flatten", "head.out"], graph.Nodes.Where(n => n.Tap is not null).Select(n => n.Name));
        Assert.All(model.TapNames, t => Assert.Equal(model.TapShape(t), graph.Nodes.Single(n => n.Tap == t).Shape));
        // Every parameter belongs to a node: "{node}.weight" / "{node}.bias".
        var owned = graph.Nodes.Where(n => n.Module is not null)
            .SelectMany(n => n.Module!.named_parameters().Select(p => $"{n.Name}.{p.name}")).ToHashSet();
        Assert.Equal(owned.Order(), model.named_parameters().Select(p => p.name).Order());
    }

    [Fact]
    public void LayersFuseTheBatchNormAndReluThatFollowThem()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [4, 6], Depthwise = [false, true], Hidden = [5] }, [1, 8, 8], 3);
        var layers = model.Graph.Layers;
        Assert.Equal(["block0.conv", "block1.depthwise", "block1.conv", "head.fc0", "head.out"], layers.Select(l => l.Name));
        Assert.Equal(["block0.bn", "block1.depthwise_bn", "block1.bn", null, null], layers.Select(l => l.BatchNorm?.Name));
        Assert.Equal(["block0.conv.relu", "block1.depthwise.relu", "block1.conv.relu", "head.fc0.relu", null], layers.Select(l => l.Activation?.Name));
        Assert.Same(model.Graph["head.out"], layers[^1].Last);
    }

    [Fact]
    public void ForwardIsTheGraphRun()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [4], Hidden = [5] }, [1, 8, 8], 3);
        model.eval();
        using var scope = NewDisposeScope();
        var x = randn(2, 1, 8, 8);
        // The same ops by hand: conv → bn → relu → pool → flatten → fc0 → relu → out.
        var conv = (Conv2d)model.Graph["block0.conv"].Module!;
        var bn = (BatchNorm2d)model.Graph["block0.bn"].Module!;
        var h = nn.functional.max_pool2d(nn.functional.relu(bn.call(conv.call(x))), 2).flatten(1);
        h = nn.functional.relu(((Linear)model.Graph["head.fc0"].Module!).call(h));
        var expected = ((Linear)model.Graph["head.out"].Module!).call(h);
        Assert.Equal(0f, (model.forward(x) - expected).abs().max().item<float>());
    }

    [Fact]
    public void AResidualAddRunsAsADag()
    {
        using var linear = nn.Linear(3, 3);
        var nodes = new GraphNode[]
        {
            new("fc", LayerKind.Linear, linear, [ModelGraph.InputName], [3]),
            new("fc.relu", LayerKind.Relu, null, ["fc"], [3]),
            new("add", LayerKind.Add, null, [ModelGraph.InputName, "fc.relu"], [3]),
        };
        var graph = new ModelGraph([3], nodes);
        Assert.Equal(["fc.relu"], graph.Consumers("fc").Select(n => n.Name));
        Assert.Equal(["fc", "add"], graph.Consumers(ModelGraph.InputName).Select(n => n.Name));
        // The ReLU is fused into the layer; the add reads the input too, so it is no part of it.
        Assert.Equal("fc.relu", graph.Layers.Single().Last.Name);
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1, -2, 3 }).reshape(1, 3);
        var expected = x + nn.functional.relu(linear.call(x));
        Assert.Equal(0f, (graph.Run(x) - expected).abs().max().item<float>());
    }

    [Fact]
    public void NodesMustReadEarlierNodes()
    {
        var forward = Assert.Throws<ArgumentException>(() => new ModelGraph([3],
        [
            new GraphNode("a", LayerKind.Relu, null, ["b"], [3]),
            new GraphNode("b", LayerKind.Relu, null, [ModelGraph.InputName], [3]),
        ]));
        Assert.Contains("'a' reads 'b'", forward.Message);
        var twice = Assert.Throws<ArgumentException>(() => new ModelGraph([3],
        [
            new GraphNode("a", LayerKind.Relu, null, [ModelGraph.InputName], [3]),
            new GraphNode("a", LayerKind.Relu, null, ["a"], [3]),
        ]));
        Assert.Contains("'a' is used twice", twice.Message);
    }
}
