using Distill.Core.Models;
using Distill.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Quantization;

public class QuantizedZooModelTests
{
    private static readonly string[] CnnLayers = ["block0.conv", "block1.depthwise", "block1.conv", "head.fc0", "head.out"];

    [Fact]
    public void CalibrateModeComputesWhatTheFloatModelComputes()
    {
        torch.manual_seed(41);
        using var scope = NewDisposeScope();
        using var model = BuildCnn();
        using var quantized = new QuantizedZooModel(model, new QuantConfig());
        var x = randn(16, 1, 8, 8);

        model.eval();
        quantized.eval();
        using (no_grad())
        {
            AssertClose(model.call(x), quantized.call(x), 1e-5f);
        }

        // Training mode: batch norm runs on batch statistics; the folded weight is rescaled back.
        model.train();
        quantized.train();
        AssertClose(model.call(x), quantized.call(x), 1e-4f);
        Assert.Equal(CnnLayers, quantized.Layers.Select(l => l.Name).ToArray());
        Assert.All(quantized.Layers.Where(l => l.Kind != LayerKind.Linear), l => Assert.True(l.BatchNormFolded));
    }

    [Fact]
    public void QuantizeModeEqualsTheHandBuiltFakeQuantPipeline()
    {
        torch.manual_seed(42);
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [16] }, [64], 10);
        using var quantized = new QuantizedZooModel(model, new QuantConfig());
        quantized.eval();
        using var noGrad = no_grad();
        for (int i = 0; i < 3; i++)
        {
            quantized.call(randn(32, 64));
        }
        quantized.Freeze();
        Assert.Equal(QuantMode.Quantize, quantized.Mode);
        var p = quantized.QuantParameters().ToDictionary(t => t.Name, t => t.Params);
        Assert.Equal(["input", "head.fc0.weight", "head.fc0.output", "head.out.weight", "head.out.output"], quantized.QuantParameters().Select(t => t.Name).ToArray());

        var x = randn(8, 64) * 1.5f;
        var h = FakeQuant.Apply(x, p["input"]);
        h = nn.functional.linear(h, FakeQuant.Apply(model.Graph["head.fc0"].Weight, p["head.fc0.weight"]), model.Graph["head.fc0"].Bias);
        h = FakeQuant.Apply(nn.functional.relu(h), p["head.fc0.output"]);
        h = nn.functional.linear(h, FakeQuant.Apply(model.Graph["head.out"].Weight, p["head.out.weight"]), model.Graph["head.out"].Bias);
        var expected = FakeQuant.Apply(h, p["head.out.output"]);

        FakeQuantTests.AssertBitEqual(expected, quantized.call(x));
    }

    [Fact]
    public void FrozenParametersDescribeEveryQuantisedTensor()
    {
        torch.manual_seed(43);
        using var scope = NewDisposeScope();
        using var model = BuildCnn();
        using var quantized = new QuantizedZooModel(model, new QuantConfig());
        Assert.Throws<InvalidOperationException>(() => quantized.QuantParameters());
        Assert.Throws<InvalidOperationException>(() => quantized.Freeze());
        Assert.Throws<InvalidOperationException>(() => quantized.Mode = QuantMode.Quantize);

        quantized.eval();
        using var noGrad = no_grad();
        quantized.call(randn(32, 1, 8, 8));
        quantized.Freeze();
        var parameters = quantized.QuantParameters();
        var expectedNames = new[] { "input" }.Concat(CnnLayers.SelectMany(l => new[] { $"{l}.weight", $"{l}.output" }));
        Assert.Equal(expectedNames, parameters.Select(t => t.Name));

        var conv1 = parameters.Single(t => t.Name == "block1.conv.weight");
        Assert.Equal(QuantTensorRole.Weight, conv1.Role);
        Assert.Equal(16, conv1.Params.Scale.Length);
        Assert.All(conv1.Params.ZeroPoint, z => Assert.Equal(0, z));
        var depthwise = parameters.Single(t => t.Name == "block1.depthwise.weight");
        Assert.Equal(8, depthwise.Params.Scale.Length);
        // Per-channel weight scales are max|W'|/127 of the folded weight.
        var (folded, _) = quantized.EffectiveWeights("block1.conv");
        var expectedScales = (folded.abs().amax([1, 2, 3]) / 127f).data<float>().ToArray();
        Assert.Equal(expectedScales, conv1.Params.Scale);
        Assert.All(parameters.Where(t => t.Role != QuantTensorRole.Weight), t => Assert.Single(t.Params.Scale));

        // Outputs lie on the output grid: quantising them again changes nothing.
        var logits = quantized.call(randn(8, 1, 8, 8));
        FakeQuantTests.AssertBitEqual(logits, FakeQuant.Apply(logits, parameters[^1].Params));
    }

    [Fact]
    public void MixedPrecisionByLayerPattern()
    {
        torch.manual_seed(44);
        using var scope = NewDisposeScope();
        using var model = BuildCnn();
        var config = new QuantConfig
        {
            Overrides =
            [
                new LayerOverride { Pattern = "block1.*", WeightBits = 4 },
                new LayerOverride { Pattern = "head.fc?", Float = true },
            ],
        };
        using var quantized = new QuantizedZooModel(model, config);
        var layers = quantized.Layers.ToDictionary(l => l.Name);
        Assert.Equal(8, layers["block0.conv"].Weights!.Bits);
        Assert.Equal(4, layers["block1.depthwise"].Weights!.Bits);
        Assert.Equal(4, layers["block1.conv"].Weights!.Bits);
        Assert.Equal(8, layers["block1.conv"].Activations!.Bits);
        Assert.True(layers["head.fc0"].IsFloat);
        Assert.Null(layers["head.fc0"].Weights);
        Assert.Equal(8, layers["head.out"].Weights!.Bits);

        quantized.eval();
        using var noGrad = no_grad();
        quantized.call(randn(32, 1, 8, 8));
        quantized.Freeze();
        var parameters = quantized.QuantParameters();
        Assert.DoesNotContain(parameters, t => t.Layer == "head.fc0");
        var weight4 = parameters.Single(t => t.Name == "block1.conv.weight").Params;
        Assert.Equal((-7L, 7L), (weight4.Scheme.QMin, weight4.Scheme.QMax));
        var codes = FakeQuant.Quantize(quantized.EffectiveWeights("block1.conv").Weight, weight4);
        Assert.Equal(7, codes.abs().max().item<long>());
        Assert.True(codes.unique().Item1.numel() <= 15);
    }

    [Fact]
    public void EveryLayerInFloatWithoutInputQuantisationIsTheFloatModel()
    {
        torch.manual_seed(45);
        using var scope = NewDisposeScope();
        using var model = BuildCnn();
        var config = new QuantConfig { QuantizeInput = false, Overrides = [new LayerOverride { Pattern = "*", Float = true }] };
        using var quantized = new QuantizedZooModel(model, config, QuantMode.Quantize);
        Assert.True(quantized.IsFrozen);
        Assert.Empty(quantized.QuantParameters());
        model.eval();
        quantized.eval();
        using var noGrad = no_grad();
        var x = randn(4, 1, 8, 8);
        FakeQuantTests.AssertBitEqual(model.call(x), quantized.call(x));
    }

    [Fact]
    public void FourBitWeightsMoveTheOutputFurtherThanEightBit()
    {
        torch.manual_seed(46);
        using var scope = NewDisposeScope();
        using var model = BuildCnn();
        model.eval();
        var calibration = randn(64, 1, 8, 8);
        var x = randn(64, 1, 8, 8);
        using var noGrad = no_grad();
        var reference = model.call(x);
        double ErrorWith(int bits)
        {
            var config = new QuantConfig { QuantizeInput = false, Weights = QuantScheme.WeightInt8PerChannel with { Bits = bits } };
            using var quantized = new QuantizedZooModel(model, config);
            quantized.eval();
            quantized.call(calibration);
            quantized.Freeze();
            return (quantized.call(x) - reference).square().mean().item<float>();
        }
        double error8 = ErrorWith(8), error4 = ErrorWith(4), error2 = ErrorWith(2);
        Assert.True(error8 < error4 && error4 < error2, $"mean squared logit error: 8-bit {error8}, 4-bit {error4}, 2-bit {error2}");
    }

    [Fact]
    public void BadConfigurationsAreRejectedNamingTheProblem()
    {
        using var model = BuildCnn();
        var unmatched = Assert.Throws<InvalidInputException>(() =>
            new QuantizedZooModel(model, new QuantConfig { Overrides = [new LayerOverride { Pattern = "block7.*", Float = true }] }));
        Assert.Contains("block7.*", unmatched.Message);
        Assert.Contains("block1.depthwise", unmatched.Message);

        var bits = Assert.Throws<InvalidInputException>(() =>
            new QuantizedZooModel(model, new QuantConfig { Overrides = [new LayerOverride { Pattern = "head.out", WeightBits = 12 }] }));
        Assert.Contains("head.out", bits.Message);
        Assert.Contains("12", bits.Message);

        Assert.Throws<InvalidInputException>(() => new QuantizedZooModel(model, new QuantConfig { Activations = new QuantScheme { PerChannel = true, ChannelAxis = 1 } }));
        Assert.Throws<InvalidInputException>(() => new QuantizedZooModel(model, new QuantConfig { Weights = QuantScheme.WeightInt8PerChannel with { ChannelAxis = 4 } }));
        Assert.Throws<InvalidInputException>(() => new QuantizedZooModel(model, new QuantConfig { WeightObserver = ObserverKind.Entropy }));
        Assert.Throws<InvalidInputException>(() => new QuantizedZooModel(model, new QuantConfig { ObserverSteps = 0 }));
    }

    [Fact]
    public void ParametersAreTheModelsWeightsPlusLearnedScales()
    {
        using var model = BuildCnn();
        var modelNames = model.named_parameters().Select(p => p.name).ToList();
        using var plain = new QuantizedZooModel(model, new QuantConfig());
        Assert.Equal(modelNames, plain.named_parameters().Select(p => p.name).ToList());

        using var lsq = new QuantizedZooModel(model, new QuantConfig { LearnedStepSize = true });
        var names = lsq.named_parameters().Select(p => p.name).ToList();
        Assert.Equal(modelNames, names.Where(n => !n.EndsWith("_scale", StringComparison.Ordinal)));
        Assert.Equal(2 * CnnLayers.Length, names.Count - modelNames.Count);
        Assert.Contains("block1_depthwise_weight_log_scale", names);
        Assert.DoesNotContain("input_log_scale", names);
    }

    [Fact]
    public void QatObservesForTheConfiguredStepsThenFreezesAndTrainsThroughTheEstimator()
    {
        torch.manual_seed(47);
        using var scope = NewDisposeScope();
        using var model = BuildCnn();
        using var quantized = new QuantizedZooModel(model, new QuantConfig { ObserverSteps = 3 }, QuantMode.Qat);
        var x = randn(32, 1, 8, 8);
        var y = randint(0, 10, [32]);

        // Evaluation before any training step: weights are quantised with their current range, the
        // activations have no range yet and stay in float.
        model.eval();
        quantized.eval();
        using (no_grad())
        {
            AssertClose(model.call(x), quantized.call(x), 0.05f);
            Assert.Equal(0, quantized.QatSteps);
        }

        quantized.train();
        using var optimizer = optim.SGD(quantized.parameters(), 0.05);
        var before = model.Graph["block0.conv"].Weight.detach().clone();
        QParams? frozenOutput = null;
        var losses = new List<float>();
        for (int step = 1; step <= 6; step++)
        {
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(quantized.call(x), y);
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
            Assert.Equal(step, quantized.QatSteps);
            Assert.Equal(step >= 3, quantized.IsFrozen);
            if (step == 3)
            {
                frozenOutput = quantized.QuantParameters().Single(t => t.Name == "head.out.output").Params;
            }
        }
        Assert.Equal(QuantMode.Qat, quantized.Mode);
        var after = quantized.QuantParameters().Single(t => t.Name == "head.out.output").Params;
        Assert.Equal(frozenOutput!.Scale, after.Scale);
        Assert.Equal(frozenOutput.ZeroPoint, after.ZeroPoint);
        Assert.True((model.Graph["block0.conv"].Weight.detach() - before).abs().max().item<float>() > 0, "gradients reached the first conv through the fake-quant");
        Assert.True(losses[^1] < losses[0], $"loss {losses[0]} → {losses[^1]}");
    }

    [Fact]
    public void LearnedStepSizesStartAtTheObservedScalesAndThenLearn()
    {
        torch.manual_seed(48);
        using var scope = NewDisposeScope();
        using var model = BuildCnn();
        using var quantized = new QuantizedZooModel(model, new QuantConfig { ObserverSteps = 2, LearnedStepSize = true }, QuantMode.Qat);
        quantized.train();
        var x = randn(32, 1, 8, 8);
        var y = randint(0, 10, [32]);
        using var optimizer = optim.Adam(quantized.parameters(), 0.01);
        var logScale = quantized.named_parameters().Single(p => p.name == "block0_conv_weight_log_scale").parameter;

        // While the observers run the scales are not used: no gradient, and the optimiser leaves them alone.
        nn.functional.cross_entropy(quantized.call(x), y).backward();
        optimizer.step();
        Assert.False(quantized.IsFrozen);
        Assert.All(logScale.data<float>().ToArray(), v => Assert.Equal(0f, v));

        optimizer.zero_grad();
        nn.functional.cross_entropy(quantized.call(x), y).backward();
        Assert.True(quantized.IsFrozen);
        var observed = quantized.QuantParameters().ToDictionary(t => t.Name, t => t.Params);
        var learnedAtFreeze = logScale.data<float>().ToArray();
        Assert.Equal(observed["block0.conv.weight"].Scale.Select(s => MathF.Log(s)), learnedAtFreeze);

        optimizer.zero_grad();
        nn.functional.cross_entropy(quantized.call(x), y).backward();
        Assert.True(logScale.grad!.abs().sum().item<float>() > 0, "the step size receives a gradient");
        optimizer.step();
        var learned = quantized.QuantParameters().ToDictionary(t => t.Name, t => t.Params);
        Assert.NotEqual(observed["block0.conv.weight"].Scale, learned["block0.conv.weight"].Scale);
        Assert.NotEqual(observed["head.out.output"].Scale, learned["head.out.output"].Scale);
        Assert.Equal(observed["head.out.output"].ZeroPoint, learned["head.out.output"].ZeroPoint);
    }

    [Fact]
    public void BatchNormFreezesFromTheConfiguredEpoch()
    {
        torch.manual_seed(49);
        using var scope = NewDisposeScope();
        using var model = BuildCnn();
        using var quantized = new QuantizedZooModel(model, new QuantConfig { FreezeBatchNormEpoch = 1, ObserverSteps = 1 }, QuantMode.Qat);
        var bn = model.Graph.Layer("block0.conv").Bn!;
        var x = randn(16, 1, 8, 8);

        quantized.BeginEpoch(0);
        quantized.train();
        Assert.False(quantized.BatchNormFrozen);
        Assert.True(bn.training);
        var mean0 = bn.running_mean!.clone();
        quantized.call(x);
        Assert.True((bn.running_mean - mean0).abs().max().item<float>() > 0, "running statistics move before the freeze");

        quantized.BeginEpoch(1);
        quantized.train();
        Assert.True(quantized.BatchNormFrozen);
        Assert.False(bn.training);
        Assert.True(quantized.training);
        var mean1 = bn.running_mean.clone();
        quantized.call(x);
        FakeQuantTests.AssertBitEqual(mean1, bn.running_mean);
    }

    /// <summary>A cnn with a plain and a depthwise-separable block and a hidden head layer, its batch
    /// norms holding random statistics so that folding changes the weights.</summary>
    internal static ZooModel BuildCnn()
    {
        var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16], Depthwise = [false, true], Hidden = [16] }, [1, 8, 8], 10);
        // Block convs' batch norms first, then the depthwise one: the order the statistics were drawn in before.
        foreach (var layer in model.Graph.Layers.Where(l => l.Bn is not null).OrderBy(l => l.Kind == LayerKind.Depthwise))
        {
            BnFoldingTests.RandomiseStatistics(layer.Bn!);
        }
        return model;
    }

    private static void AssertClose(Tensor expected, Tensor actual, float tolerance)
    {
        Assert.Equal(expected.shape, actual.shape);
        float error = (expected - actual).abs().max().item<float>();
        Assert.True(error <= tolerance, $"max difference {error} > {tolerance}");
    }
}
