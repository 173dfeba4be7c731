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
using Distill.Core.Training;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

/// <summary>A small mobilenet_v2 trained once on the shipped UCI digits (8x8 images): stage 0 one block at width 16
/// (with its residual add), stage 1 two blocks at width 24 (a stride-2 block without one, then one with one).</summary>
public sealed class DigitsMobileNetFixture() : TrainedDigitsModel(Spec, seed: 23, epochs: 8, lr: 0.01)
{
    public static readonly ModelSpec Spec = new() { Arch = ModelArch.MobileNetV2, Channels = [16, 24], Blocks = [1, 2] };
}

public class MobileNetV2Tests(DigitsMobileNetFixture trained, ITestOutputHelper output) : IClassFixture<DigitsMobileNetFixture>
{
    [Fact]
    public void GraphHasTheHandCountedParametersShapesJoinsAndTaps()
    {
        // channels [16, 24], blocks [1, 2], expansion 6, batch norm, on [1, 8, 8] with 10 classes:
        //   stem            conv 1→16 3x3: 144 + bn 32                                                  =    176
        //   stage0_block0   expand 16→96: 1,536 + bn 192, depthwise 96 3x3: 864 + bn 192,
        //                   project 96→16: 1,536 + bn 32 (stride 1, width kept: add)                    =  4,352
        //   stage1_block0   expand 16→96: 1,728 with bn, depthwise stride 2: 1,056 with bn,
        //                   project 96→24: 2,304 + bn 48 (no add)                                        =  5,136
        //   stage1_block1   expand 24→144: 3,456 + bn 288, depthwise 144: 1,296 + bn 288,
        //                   project 144→24: 3,456 + bn 48 (add)                                          =  8,832
        //   head            linear 24→10: 240 + 10                                                      =    250
        //                                                                                                  18,746
        var spec = DigitsMobileNetFixture.Spec;
        Assert.Equal(18746, ModelZoo.ParameterCount(spec, [1, 8, 8], 10));
        using var model = ModelZoo.Build(spec, [1, 8, 8], 10);
        Assert.Equal(18746, model.ParameterCount);
        Assert.Equal(18746, ModelZoo.ParameterCount(spec, [1, 28, 28], 10));
        // Expansion 1 drops the expand convs: stage0_block0's 1,728 and stage1_block0's (in 16) 1,728, stage1_block1's
        // (in 24) 3,744; the depthwise and project convs then act on 16, 16 and 24 channels.
        Assert.Equal(176 + (16 * 9 + 32 + 16 * 16 + 32) + (16 * 9 + 32 + 16 * 24 + 48) + (24 * 9 + 48 + 24 * 24 + 48) + 250,
            ModelZoo.ParameterCount(spec with { Expansion = 1 }, [1, 8, 8], 10));

        var graph = model.Graph;
        Assert.Equal([16L, 8, 8], model.TapShape("stage0"));
        Assert.Equal([24L, 4, 4], model.TapShape("stage1"));
        Assert.Equal([24L], model.TapShape("features"));
        Assert.Equal(["stage0", "stage1", "features", "logits"], model.TapNames);
        Assert.Equal(["stage0_block0.project_bn", "stem.conv.relu6"], graph["stage0_block0.add"].Inputs);
        Assert.Equal(["stage1_block1.project_bn", "stage1_block0.project_bn"], graph["stage1_block1.add"].Inputs);
        Assert.Equal(2, graph.Nodes.Count(n => n.Kind == LayerKind.Add));
        Assert.Equal(LayerKind.Depthwise, graph["stage1_block0.depthwise"].Kind);
        var depthwise = (TorchSharp.Modules.Conv2d)graph["stage1_block0.depthwise"].Module!;
        Assert.Equal([2L, 2], depthwise.stride);
        Assert.Equal(96L, depthwise.groups);
        Assert.Equal(LayerKind.Relu6, graph["stage1_block0.depthwise.relu6"].Kind);
        Assert.DoesNotContain(graph.Nodes, n => n.Name == "stage1_block0.project.relu6");

        using var scope = NewDisposeScope();
        model.eval();
        using var noGrad = no_grad();
        Assert.Equal([3L, 10], model.call(randn(3, 1, 8, 8)).shape);
    }

    [Theory]
    [InlineData(16, 1.0, 16)]
    [InlineData(24, 0.75, 24)] // 18 rounds to 16, more than 10 % down, so up to 24
    [InlineData(32, 1.4, 48)] // 44.8 rounds to 48
    [InlineData(32, 0.5, 16)]
    [InlineData(16, 0.5, 8)]
    public void The_width_multiplier_rounds_to_multiples_of_8_at_most_10_percent_down(int channels, double multiplier, int expected) =>
        Assert.Equal(expected, MobileNetV2Widths.Scaled(channels, multiplier));

    [Theory]
    [InlineData(new[] { 16, 24 }, new[] { 1 }, 6, 1.0, "mobilenet_v2 blocks has 1 entries but channels has 2; give one per stage.")]
    [InlineData(new[] { 16 }, new[] { 0 }, 6, 1.0, "mobilenet_v2 blocks must be at least 1 per stage, got [0].")]
    [InlineData(new[] { 16 }, new[] { 1 }, 0, 1.0, "mobilenet_v2 expansion must be at least 1, got 0.")]
    [InlineData(new[] { 32, 16 }, new[] { 1, 1 }, 6, 0.5, "mobilenet_v2 stages must be at least 16 channels wide after the width multiplier, got [16,8]: LibTorch's oneDNN convolution gradient turns NaN now and then for narrower convs (docs/architecture.md, Other platform notes).")]
    public void BadSpecsAreRefusedBeforeAnythingIsBuilt(int[] channels, int[] blocks, int expansion, double multiplier, string message)
    {
        var spec = new ModelSpec { Arch = ModelArch.MobileNetV2, Channels = channels, Blocks = blocks, Expansion = expansion, WidthMultiplier = multiplier };
        Assert.Equal(message, Assert.Throws<InvalidInputException>(() => ModelZoo.Build(spec, [1, 8, 8], 10)).Message);
    }

    [Fact]
    public void TrainsOnDigitsAndItsFloatOnnxExportsMatchTorchSharp()
    {
        output.WriteLine($"digits mobilenet_v2 [16, 24] blocks [1, 2], {trained.Model.ParameterCount:N0} parameters: test accuracy {trained.TestAccuracy:P2} after {trained.TrainSeconds:F1} s");
        Assert.True(trained.TestAccuracy >= 0.90, $"test accuracy {trained.TestAccuracy}");

        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var exporter = new OnnxExporter();
        var x = trained.Digits.Test.Features;
        var reference = ExportModelsFixture.Logits(trained.Model, x);

        var fp32 = exporter.Export(trained.Model, null, new ExportOptions(), folder.File("mobilenet.onnx"));
        float diff = MaxAbsDiff(RunOnnx(fp32.Path, x), reference);
        output.WriteLine($"fp32 ONNX ({x.shape[0]} test images): max |logit diff| = {diff:E2}");
        Assert.True(diff <= 1e-4f, $"max abs logit difference {diff}");
        var proto = Load(fp32.Path);
        Assert.Equal(["Add", "Clip", "Conv", "Flatten", "Gemm", "GlobalAveragePool"], proto.Graph.Node.Select(n => n.OpType).Distinct().Order().ToArray());
        Assert.Equal(2, proto.Graph.Node.Count(n => n.OpType == "Add"));
        // Batch norms folded: the stem and three convs per block; the depthwise ones grouped by channel.
        Assert.Equal(1 + (3 * 3), proto.Graph.Node.Count(n => n.OpType == "Conv"));
        Assert.Equal([96L, 96, 144], proto.Graph.Node.Where(n => n.OpType == "Conv" && n.Name.EndsWith(".depthwise", StringComparison.Ordinal))
            .Select(n => n.Attribute.Single(a => a.Name == "group").I).ToArray());
        // ReLU6 after the stem, each expand and each depthwise conv; none after a projection.
        Assert.Equal(1 + 3 + 3, proto.Graph.Node.Count(n => n.OpType == "Clip"));
        OnnxChecker.Check(fp32.Path);

        var fp16 = exporter.Export(trained.Model, null, new ExportOptions { Precision = ExportPrecision.Float16 }, folder.File("mobilenet-fp16.onnx"));
        double agreement = Top1Agreement(RunOnnx(fp16.Path, x), reference);
        output.WriteLine($"fp16 ONNX: top-1 agreement {agreement:P2}");
        Assert.True(agreement >= 0.99, $"fp16 top-1 agreement {agreement}");
        OnnxChecker.Check(fp16.Path);
    }

    [Theory]
    [InlineData("x86-vnni")]
    [InlineData("npu-u8")]
    public void Int8OnnxAgreesWithTheFakeQuantModelAndRunsTheAddsAsQLinearAdd(string target) =>
        ResidualInt8.Check(trained.Model, trained.Digits, ResidualInt8.Named(target), target, adds: 2, output);

    [Fact]
    public void Fp32TfliteInArmNnMatchesTorchSharp() =>
        ResidualTflite.CheckFloat(trained.Model, trained.Digits, adds: 2, output);

    [Fact]
    public void Int8TfliteInArmNnAgreesWithTheFakeQuantModel() =>
        ResidualTflite.CheckInt8(trained.Model, trained.Digits, adds: 2, output);

    [Fact]
    public void ChannelGroupsJoinTheProjectionsOfAStageAndPairEachExpandWithItsDepthwise()
    {
        var groups = ChannelGroups.Of(trained.Model);
        Assert.Equal(new[]
        {
            "stem.conv.weight + stage0_block0.project.weight",
            "stage0_block0.expand.weight",
            "stage1_block0.expand.weight",
            "stage1_block0.project.weight + stage1_block1.project.weight",
            "stage1_block1.expand.weight",
        }, groups.Select(g => string.Join(" + ", g.Sources)));
        Assert.Equal(["stage0_block0.expand.weight", "stage0_block0.expand_bn.weight", "stage0_block0.expand_bn.bias",
            "stage0_block0.depthwise.weight", "stage0_block0.depthwise_bn.weight", "stage0_block0.depthwise_bn.bias"], groups[1].Members);
    }

    [Fact]
    public void ChannelPruningShrinksTheMobilenetToTheSameOutputs()
    {
        var spec = ResidualPruning.PruneAndShrink(trained.Model, trained.Digits, output);
        // Stage widths 16 and 24 keep the 16-channel minimum; the expanded widths (16, 16 and 24 wide inputs, six times) 96, 96, 144 lose half.
        Assert.Equal([16, 16], spec.Channels);
        Assert.True(spec.ExactWidths);
        Assert.Equal([48, 48, 72], spec.InnerWidths!);
    }

    [Fact]
    public void CoreMlRefusesTheMobilenetByName()
    {
        var model = trained.Model;
        using var folder = new ExportFolder();
        Assert.Contains("relu6",
            Assert.Throws<InvalidInputException>(() => new CoreMlExporter().Export(model, null, new ExportOptions(), folder.File("m.mlmodel"))).Message);
    }
}
