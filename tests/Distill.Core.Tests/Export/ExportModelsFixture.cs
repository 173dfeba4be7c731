using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Tests.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export;

/// <summary>Small zoo models trained once on the shipped real data: a digits cnn with a plain and a
/// depthwise-separable block (batch norm, dropout), a digits mlp, and a Fashion-MNIST cnn with enough
/// weights for size checks whose head.fc0 and block1.conv are half pruned (weights set to zero).</summary>
public sealed class ExportModelsFixture : IDisposable
{
    public ExportModelsFixture()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Digits = DatasetLoader.Load(TestData.DigitsOptions with { ImageShape = [1, 8, 8] }, TestData.DataDir, seed: 5);
        DigitsFlat = DatasetLoader.Load(TestData.DigitsOptions, TestData.DataDir, seed: 5);
        Fashion = DatasetLoader.Load(TestData.FashionOptions with { MaxTrain = 2000, MaxTest = 500 }, TestData.FashionDir, seed: 5);

        DigitsCnn = Train(
            ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16], Depthwise = [false, true], Hidden = [32], Dropout = 0.1 }, Digits.InputShape, Digits.NumClasses),
            Digits, steps: 300, seed: 11);
        DigitsMlp = Train(
            ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [48, 24], Dropout = 0.1 }, DigitsFlat.InputShape, DigitsFlat.NumClasses),
            DigitsFlat, steps: 200, seed: 12);
        FashionCnn = Train(
            ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16], Hidden = [128] }, Fashion.InputShape, Fashion.NumClasses),
            Fashion, steps: 60, seed: 13);
        PrunedFc0 = PruneHalf(FashionCnn.Graph["head.fc0"].Weight);
        PruneHalf(FashionCnn.Graph["block1.conv"].Weight);
        DigitsAll = cat([Digits.Train.Features, Digits.Validation.Features, Digits.Test.Features]);
        SetupSeconds = clock.Elapsed.TotalSeconds;
    }

    public DataSplits Digits { get; }
    public DataSplits DigitsFlat { get; }
    public DataSplits Fashion { get; }
    /// <summary>All 1,797 digits images (train, validation and test) as [N, 1, 8, 8], for agreement checks.</summary>
    public Tensor DigitsAll { get; }
    public ZooModel DigitsCnn { get; }
    public ZooModel DigitsMlp { get; }
    public ZooModel FashionCnn { get; }

    /// <summary>Number of head.fc0 weights of <see cref="FashionCnn"/> set to zero.</summary>
    public long PrunedFc0 { get; }
    public double SetupSeconds { get; }

    /// <summary>A frozen post-training quantisation of <paramref name="model"/> on 4 training batches,
    /// in eval mode. The caller disposes it (the model stays).</summary>
    public static QuantizedZooModel Calibrate(ZooModel model, DataSplits data, QuantConfig config)
    {
        var quantized = new QuantizedZooModel(model, config);
        quantized.eval();
        using var noGrad = no_grad();
        foreach (var indices in BatchSampler.Batches(data.Train.Count, 64, shuffle: true, seed: 3).Take(4))
        {
            using var scope = NewDisposeScope();
            quantized.call(data.Train.Batch(indices).X);
        }
        quantized.Freeze();
        return quantized;
    }

    /// <summary>Logits of <paramref name="model"/> in eval mode for a whole dataset.</summary>
    public static Tensor Logits(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        model.eval();
        using var noGrad = no_grad();
        return model.call(x);
    }

    private static ZooModel Train(ZooModel model, DataSplits data, int steps, int seed)
    {
        InitialiseDeterministically(model, seed);
        using var optimizer = optim.Adam(model.parameters(), 0.01);
        model.train();
        int step = 0;
        for (int epoch = 0; step < steps; epoch++)
        {
            foreach (var indices in BatchSampler.Batches(data.Train.Count, 64, shuffle: true, seed: epoch))
            {
                using var scope = NewDisposeScope();
                var (x, y) = data.Train.Batch(indices);
                optimizer.zero_grad();
                nn.functional.cross_entropy(model.call(x), y).backward();
                optimizer.step();
                if (++step == steps)
                {
                    break;
                }
            }
        }
        model.eval();
        return model;
    }

    /// <summary>Other test classes reseed the global generator in parallel, so weights come from a private one.</summary>
    private static void InitialiseDeterministically(ZooModel model, int seed)
    {
        using var generator = new Generator((ulong)seed, new Device(DeviceType.CPU));
        using var noGrad = no_grad();
        foreach (var (_, parameter) in model.named_parameters().Where(p => p.parameter.dim() >= 2))
        {
            double bound = 1 / Math.Sqrt(parameter.numel() / parameter.shape[0]);
            using var values = rand(parameter.shape, generator: generator) * (2 * bound) - bound;
            parameter.copy_(values);
        }
    }

    /// <summary>Zeroes the half of the weights with the smallest magnitude; returns how many are zero.</summary>
    private static long PruneHalf(Tensor weight)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var magnitude = weight.abs();
        var threshold = magnitude.flatten().sort().Values[weight.numel() / 2 - 1];
        weight.masked_fill_(magnitude.le(threshold), 0);
        return weight.eq(0).sum().item<long>();
    }

    public void Dispose()
    {
        DigitsAll.Dispose();
        DigitsCnn.Dispose();
        DigitsMlp.Dispose();
        FashionCnn.Dispose();
        Digits.Dispose();
        DigitsFlat.Dispose();
        Fashion.Dispose();
    }
}
