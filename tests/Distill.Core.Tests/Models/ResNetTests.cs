using Distill.Core.Data;
using Distill.Core.Export;
using Distill.Core.Export.CoreMl;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Tflite;
using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Quantization;
using Distill.Core.Tests.Data;
using Distill.Core.Tests.Export;
using TorchSharp;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

/// <summary>A small resnet trained once on the shipped UCI digits (8x8 images): stage 0 has two identity blocks,
/// stage 1 one block with a stride-2 projection shortcut.</summary>
public sealed class DigitsResNetFixture() : TrainedDigitsModel(Spec, seed: 17, epochs: 6, lr: 0.01)
{
    public static readonly ModelSpec Spec = new() { Arch = ModelArch.Resnet, Channels = [16, 32], Blocks = [2, 1] };
}

public class ResNetTests(DigitsResNetFixture trained, ITestOutputHelper output) : IClassFixture<DigitsResNetFixture>
{
    [Fact]
    public void GraphHasTheHandCountedParametersShapesJoinsAndTaps()
    {
        // channels [16, 32], blocks [1, 1], batch norm, on [1, 8, 8] with 10 classes:
        //   stem       conv 1→16 3x3: 144, bn 32                                                  =    176
        //   stage 0    conv1 16→16: 2,304 + bn 32, conv2 16→16: 2,304 + bn 32 (identity)           =  4,672
        //   stage 1    conv1 16→32: 4,608 + bn 64, conv2 32→32: 9,216 + bn 64,
        //              shortcut 1x1 16→32 stride 2: 512 + bn 64                                    = 14,528
        //   head       linear 32→10: 320 + 10                                                       =    330
        //                                                                                              19,706
        var spec = new ModelSpec { Arch = ModelArch.Resnet, Channels = [16, 32], Blocks = [1, 1] };
        Assert.Equal(19706, ModelZoo.ParameterCount(spec, [1, 8, 8], 10));
        using var model = ModelZoo.Build(spec, [1, 8, 8], 10);
        Assert.Equal(19706, model.ParameterCount);
        // Global average pooling: the count does not depend on the image size.
        Assert.Equal(19706, ModelZoo.ParameterCount(spec, [1, 28, 28], 10));
        // Without batch norm each conv has a bias (1 per channel) instead of a batch norm's 2: 16 + 32 + 96 = 144 fewer.
        Assert.Equal(19706 - 144, ModelZoo.ParameterCount(spec with { BatchNorm = false }, [1, 8, 8], 10));

        var graph = model.Graph;
        Assert.Equal([16L, 8, 8], model.TapShape("stage0"));
        Assert.Equal([32L, 4, 4], model.TapShape("stage1"));
        Assert.Equal([32L], model.TapShape("features"));
        Assert.Equal(["stage0", "stage1", "features", "logits"], model.TapNames);
        Assert.Equal(["stage0_block0.bn2", "stem.conv.relu"], graph["stage0_block0.add"].Inputs);
        Assert.Equal(["stage1_block0.bn2", "stage1_block0.shortcut_bn"], graph["stage1_block0.add"].Inputs);
        Assert.Equal(["stage0_block0.relu"], graph["stage1_block0.shortcut"].Inputs);
        Assert.Equal([2L, 2], ((TorchSharp.Modules.Conv2d)graph["stage1_block0.conv1"].Module!).stride);
        Assert.Equal(["stem.conv", "stage0_block0.conv1", "stage0_block0.conv2", "stage1_block0.conv1", "stage1_block0.conv2", "stage1_block0.shortcut", "head.out"],
            graph.Layers.Select(l => l.Name));

        using var scope = NewDisposeScope();
        model.eval();
        using var noGrad = no_grad();
        Assert.Equal([3L, 10], model.call(randn(3, 1, 8, 8)).shape);
    }

    [Theory]
    [InlineData(new[] { 16, 32 }, new[] { 1 }, "resnet blocks has 1 entries but channels has 2; give one per stage.")]
    [InlineData(new[] { 16 }, new[] { 0 }, "resnet blocks must be at least 1 per stage, got [0].")]
    [InlineData(new[] { 16, 8 }, new[] { 1, 1 }, "resnet channels must be at least 16, got [16,8]: LibTorch's oneDNN convolution gradient turns NaN now and then for narrower convs (docs/architecture.md, Other platform notes).")]
    [InlineData(new int[0], new int[0], "A resnet needs at least one stage (channels is empty).")]
    public void BadSpecsAreRefusedBeforeAnythingIsBuilt(int[] channels, int[] blocks, string message)
    {
        var spec = new ModelSpec { Arch = ModelArch.Resnet, Channels = channels, Blocks = blocks };
        Assert.Equal(message, Assert.Throws<InvalidInputException>(() => ModelZoo.Build(spec, [1, 8, 8], 10)).Message);
        Assert.Contains("needs image input", Assert.Throws<InvalidInputException>(() => ModelZoo.Build(spec with { Channels = [16], Blocks = [1] }, [64], 10)).Message);
    }

    [Fact]
    public void TrainsOnDigitsAndItsFloatOnnxExportsMatchTorchSharp()
    {
        output.WriteLine($"digits resnet [16, 32] blocks [2, 1], {trained.Model.ParameterCount:N0} parameters: test accuracy {trained.TestAccuracy:P2} after {trained.TrainSeconds:F1} s");
        Assert.True(trained.TestAccuracy >= 0.93, $"test accuracy {trained.TestAccuracy}");

        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var exporter = new OnnxExporter();
        var x = trained.Digits.Test.Features;
        var reference = ExportModelsFixture.Logits(trained.Model, x);

        var fp32 = exporter.Export(trained.Model, null, new ExportOptions(), folder.File("resnet.onnx"));
        float diff = MaxAbsDiff(RunOnnx(fp32.Path, x), reference);
        output.WriteLine($"fp32 ONNX ({x.shape[0]} test images): max |logit diff| = {diff:E2}");
        Assert.True(diff <= 1e-4f, $"max abs logit difference {diff}");
        var proto = Load(fp32.Path);
        Assert.Equal(["Add", "Conv", "Flatten", "Gemm", "GlobalAveragePool", "Relu"], proto.Graph.Node.Select(n => n.OpType).Distinct().Order().ToArray());
        Assert.Equal(3, proto.Graph.Node.Count(n => n.OpType == "Add"));
        // Batch norms are folded: stem, 3 blocks of two convs, one projection.
        Assert.Equal(8, proto.Graph.Node.Count(n => n.OpType == "Conv"));
        OnnxChecker.Check(fp32.Path);

        var fp16 = exporter.Export(trained.Model, null, new ExportOptions { Precision = ExportPrecision.Float16 }, folder.File("resnet-fp16.onnx"));
        var half = RunOnnx(fp16.Path, x);
        double agreement = Top1Agreement(half, reference);
        output.WriteLine($"fp16 ONNX: top-1 agreement {agreement:P2}, max |logit diff| {MaxAbsDiff(half, reference):E2}");
        Assert.True(agreement >= 0.99, $"fp16 top-1 agreement {agreement}");
        OnnxChecker.Check(fp16.Path);

        // The stage taps are graph outputs too (an ONNX teacher for hint losses).
        var taps = exporter.Export(trained.Model, null, new ExportOptions { ExposeTaps = true }, folder.File("resnet-taps.onnx"));
        Assert.Equal(["logits", "stage0", "stage1", "features"], Load(taps.Path).Graph.Output.Select(o => o.Name).ToArray());
        Assert.True(MaxAbsDiff(RunOnnx(taps.Path, x), reference) <= 1e-4f);
    }

    [Fact]
    public void Relu6AndGlobalAveragePoolLowerToClipAndGlobalAveragePool()
    {
        // A hand-made graph with the nodes mobilenet-style models use: conv → bn → ReLU6 → global average pool → linear.
        using var scope = NewDisposeScope();
        var builder = new GraphBuilder([1, 8, 8]);
        builder.Add("stem.conv", LayerKind.Conv, nn.Conv2d(1, 4, 3, padding: 1, bias: false), [4, 8, 8]);
        builder.Add("stem.bn", LayerKind.BatchNorm, nn.BatchNorm2d(4), [4, 8, 8]);
        builder.Add("stem.relu6", LayerKind.Relu6, null, [4, 8, 8]);
        builder.Add("pool", LayerKind.GlobalAvgPool, null, [4]);
        ClassifierHead.Add(builder, [], 10, inputDropout: 0, hiddenDropout: 0, featuresTap: ZooModel.FeaturesTap, hiddenTaps: false, CancellationToken.None);
        var (graph, groups) = builder.Build();
        using var model = new ZooModel("relu6", new ModelSpec { Arch = ModelArch.Cnn }, 10, graph, groups);
        using (no_grad())
        {
            // Scale the conv up so that ReLU6 clips.
            ((TorchSharp.Modules.Conv2d)graph["stem.conv"].Module!).weight!.mul_(20);
        }
        using var folder = new ExportFolder();
        var info = new OnnxExporter().Export(model, null, new ExportOptions(), folder.File("relu6.onnx"));
        var x = trained.Digits.Test.Features;
        var reference = ExportModelsFixture.Logits(model, x);
        float diff = MaxAbsDiff(RunOnnx(info.Path, x), reference);
        Assert.True(diff <= 1e-4f, $"max abs logit difference {diff}");
        Assert.Contains("Clip", Load(info.Path).Graph.Node.Select(n => n.OpType));
        var half = new OnnxExporter().Export(model, null, new ExportOptions { Precision = ExportPrecision.Float16 }, folder.File("relu6-fp16.onnx"));
        Assert.True(Top1Agreement(RunOnnx(half.Path, x), reference) >= 0.99);
    }

    [Theory]
    [InlineData("x86-vnni")]
    [InlineData("npu-u8")]
    public void Int8OnnxAgreesWithTheFakeQuantModelAndRunsTheAddsAsQLinearAdd(string target) =>
        ResidualInt8.Check(trained.Model, trained.Digits, ResidualInt8.Named(target), target, adds: 3, output);

    [Fact]
    public void Fp32TfliteInArmNnMatchesTorchSharp() =>
        ResidualTflite.CheckFloat(trained.Model, trained.Digits, adds: 3, output);

    [Fact]
    public void Int8TfliteInArmNnAgreesWithTheFakeQuantModel() =>
        ResidualTflite.CheckInt8(trained.Model, trained.Digits, adds: 3, output);

    [Fact]
    public void ChannelGroupsJoinTheLayersThatAddIntoAStream()
    {
        var groups = ChannelGroups.Of(trained.Model).Select(g => string.Join(" + ", g.Sources)).ToList();
        Assert.Equal(new[]
        {
            "stem.conv.weight + stage0_block0.conv2.weight + stage0_block1.conv2.weight",
            "stage0_block0.conv1.weight",
            "stage0_block1.conv1.weight",
            "stage1_block0.conv1.weight",
            "stage1_block0.conv2.weight + stage1_block0.shortcut.weight",
        }, groups);
        var stream = ChannelGroups.Of(trained.Model)[^1].Members;
        Assert.Equal(["stage1_block0.conv2.weight", "stage1_block0.bn2.weight", "stage1_block0.bn2.bias",
            "stage1_block0.shortcut.weight", "stage1_block0.shortcut_bn.weight", "stage1_block0.shortcut_bn.bias"], stream);
    }

    [Fact]
    public void ChannelPruningSelectsAStreamByItsFirstLayerAndNamesTheRuleForTheOthers()
    {
        var options = new PruneOptions { Method = PruneMethod.Channel, Sparsity = 0.5, Layers = [new LayerPattern("stage1_block0.shortcut.weight", "recipe.yaml:12:9")] };
        var error = Assert.Throws<InvalidInputException>(() => LayerSelection.Select(trained.Model, options, "prune"));
        Assert.StartsWith("recipe.yaml:12:9: stage 'prune': prune: layers pattern 'stage1_block0.shortcut.weight' matches only stage1_block0.shortcut.weight, " +
            "which channel pruning cannot prune (channel pruning acts on block convs and hidden head layers; in a residual model on the first layer of each group of channels an add joins)", error.Message);
        var stream = LayerSelection.Select(trained.Model, options with { Layers = [new LayerPattern("stage1_block0.conv2.weight")] }, "prune");
        Assert.Equal("stage1_block0.conv2.weight", Assert.Single(stream).Layer.Name);
    }

    [Fact]
    public void ChannelPruningShrinksTheResnetToTheSameOutputs()
    {
        var spec = ResidualPruning.PruneAndShrink(trained.Model, trained.Digits, output);
        // Stage 0 and its conv1s are at the 16-channel minimum already; stage 1 (shortcut and conv2 together) and its
        // conv1 lose half of 32.
        Assert.Equal([16, 16], spec.Channels);
        Assert.Equal([16, 16, 16], spec.InnerWidths!);
    }

    [Fact]
    public void CoreMlRefusesTheResnetByName()
    {
        var model = trained.Model;
        using var folder = new ExportFolder();
        Assert.Contains("stage0_block0.add",
            Assert.Throws<InvalidInputException>(() => new CoreMlExporter().Export(model, null, new ExportOptions(), folder.File("m.mlmodel"))).Message);
    }
}
