using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Quantization;

/// <summary>The quantisation state saved with a model: a model rebuilt from its file fake-quantises
/// exactly as the one that was saved, LSQ's learned scales and mixed precision included.</summary>
public class QuantStateTests
{
    [Fact]
    public void ModelFileRoundTripFakeQuantisesBitForBit()
    {
        torch.manual_seed(5);
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 12], Depthwise = [false, true], Hidden = [16] }, [1, 8, 8], 10);
        var config = new QuantConfig
        {
            LearnedStepSize = true,
            ObserverSteps = 3,
            Overrides = [new LayerOverride { Pattern = "block1.*", WeightBits = 4 }, new LayerOverride { Pattern = "head.out", Float = true }],
        };
        using var quantized = new QuantizedZooModel(model, config, QuantMode.Qat);
        using var optimizer = torch.optim.Adam(quantized.parameters(), 0.001);
        quantized.train();
        // Own generator: other test classes seed the global one in parallel.
        using var generator = new Generator(11);
        for (int step = 0; step < 6; step++)
        {
            using var stepScope = NewDisposeScope();
            var x = randn([32, 1, 8, 8], generator: generator);
            var y = randint(0, 10, [32], generator: generator);
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(quantized.call(x), y);
            loss.backward();
            Assert.True(float.IsFinite(loss.item<float>()), $"step {step}: loss {loss.item<float>()}");
            optimizer.step();
        }
        Assert.True(quantized.IsFrozen);
        quantized.FreezeBatchNorm();

        var path = Path.Combine(Path.GetTempPath(), $"distill-quantstate-{Guid.NewGuid():N}.ckpt");
        try
        {
            ModelCheckpoint.Save(path, model, null, "student", null,
                new Dictionary<string, byte[]> { [QuantState.Section] = QuantState.Of(quantized).ToBytes() });
            var (loaded, _, view) = QuantState.LoadModel(path);
            using (loaded)
            using (view)
            {
                Assert.NotNull(view);
                Assert.True(view.BatchNormFrozen);
                Assert.Equal(6, view.QatSteps);
                Assert.Equal(4, view.Layers.Single(l => l.Name == "block1.conv").Weights!.Bits);
                Assert.True(view.Layers.Single(l => l.Name == "head.out").IsFloat);
                var saved = quantized.QuantParameters();
                var restored = view.QuantParameters();
                Assert.Equal(saved.Select(t => t.Name), restored.Select(t => t.Name));
                for (int i = 0; i < saved.Count; i++)
                {
                    Assert.Equal(saved[i].Params.Scale, restored[i].Params.Scale);
                    Assert.Equal(saved[i].Params.ZeroPoint, restored[i].Params.ZeroPoint);
                }

                quantized.eval();
                view.eval();
                using var noGrad = no_grad();
                var input = randn(64, 1, 8, 8);
                Assert.True(quantized.call(input).eq(view.call(input)).all().item<bool>(), "the reloaded model computes other outputs");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void StateThatDoesNotFitTheModelIsRejectedNamingTheFile()
    {
        torch.manual_seed(6);
        using var scope = NewDisposeScope();
        using var small = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [16] }, [64], 10);
        using var other = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [16, 8] }, [64], 10);
        using var data = new Distill.Core.Data.TensorDataset(randn(64, 64), randint(0, 10, [64]));
        using var quantized = PostTrainingCalibrator.Calibrate(small, data, batches: 2, batchSize: 32, new QuantConfig());
        var state = QuantState.Of(quantized);
        var e = Assert.Throws<InvalidInputException>(() => state.Apply(other, "model.ckpt"));
        Assert.StartsWith("model.ckpt: the saved quantisation does not fit the model", e.Message);
        Assert.Contains("head.fc1.weight", e.Message);
    }
}
