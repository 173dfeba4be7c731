using Distill.Core.Data;
using Distill.Core.Export.Tflite;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Tests.Data;
using Distill.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export.Tflite;

/// <summary>A trained zoo model, its data and its int8 view calibrated on the training data with
/// <see cref="TfliteExporter.Int8QuantConfig"/>.</summary>
public sealed class TrainedModel(string name, ZooModel model, DataSplits data, QuantizedZooModel quantized, double accuracy) : IDisposable
{
    public string Name { get; } = name;
    public ZooModel Model { get; } = model;
    public DataSplits Data { get; } = data;
    public QuantizedZooModel Quantized { get; } = quantized;
    public double FloatAccuracy { get; } = accuracy;

    /// <summary>The first <paramref name="count"/> test samples (NCHW or flat, as the model takes them), or all
    /// when there are fewer, and their labels.</summary>
    public (Tensor X, Tensor Y) TestSamples(int count)
    {
        long n = Math.Min(count, Data.Test.Count);
        return (Data.Test.Features.narrow(0, 0, n), Data.Test.Labels.narrow(0, 0, n));
    }

    public void Dispose()
    {
        Quantized.Dispose();
        Model.Dispose();
    }
}

/// <summary>Small models trained once on real data: on Fashion-MNIST a plain cnn (batch norm, dropout, a hidden
/// head layer) and a depthwise-separable cnn; on the optical digits a 5x5 cnn without batch norm (8x8 images)
/// and an mlp with dropout (64 features).</summary>
public sealed class TrainedZooModels : IDisposable
{
    public const string PlainCnn = "cnn";
    public const string DepthwiseCnn = "cnn-depthwise";
    public const string CnnWithoutBatchNorm = "cnn-k5-nobn";
    public const string Mlp = "mlp";

    private readonly Dictionary<string, TrainedModel> _models = [];
    private readonly DataSplits _fashion;
    private readonly DataSplits _digits;
    private readonly DataSplits _digitImages;

    public TrainedZooModels()
    {
        _fashion = DatasetLoader.Load(TestData.FashionOptions with { MaxTrain = 3000, MaxTest = 400 }, TestData.FashionDir, seed: 7);
        _digits = DatasetLoader.Load(TestData.DigitsOptions, TestData.DataDir, seed: 7);
        _digitImages = DatasetLoader.Load(TestData.DigitsOptions with { ImageShape = [1, 8, 8] }, TestData.DataDir, seed: 7);
        Add(PlainCnn, new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16], Hidden = [32], Dropout = 0.2 }, _fashion);
        Add(DepthwiseCnn, new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16, 16], Depthwise = [false, true, true], Pool = [true, false, true] }, _fashion);
        Add(CnnWithoutBatchNorm, new ModelSpec { Arch = ModelArch.Cnn, Channels = [8], KernelSize = 5, BatchNorm = false }, _digitImages);
        Add(Mlp, new ModelSpec { Arch = ModelArch.Mlp, Hidden = [64, 32], Dropout = 0.1 }, _digits);
    }

    public TrainedModel this[string name] => _models[name];

    public void Dispose()
    {
        foreach (var model in _models.Values)
        {
            model.Dispose();
        }
        _fashion.Dispose();
        _digits.Dispose();
        _digitImages.Dispose();
    }

    private void Add(string name, ModelSpec spec, DataSplits data)
    {
        var model = ModelZoo.Build(spec, data.InputShape, data.NumClasses);
        InitialiseDeterministically(model, seed: name.Length);
        Train(model, data.Train, steps: 200);
        model.eval();
        double accuracy = Evaluator.Evaluate(model, data.Test).Accuracy;
        var quantized = PostTrainingCalibrator.Calibrate(model, data.Train, batches: 8, batchSize: 64, TfliteExporter.Int8QuantConfig);
        quantized.eval();
        _models[name] = new TrainedModel(name, model, data, quantized, accuracy);
    }

    private static void Train(ZooModel model, TensorDataset train, int steps)
    {
        using var optimizer = optim.Adam(model.parameters(), 0.005);
        model.train();
        int step = 0;
        for (int epoch = 0; step < steps; epoch++)
        {
            foreach (var indices in BatchSampler.Batches(train.Count, 64, shuffle: true, seed: epoch))
            {
                using var scope = NewDisposeScope();
                var (x, y) = train.Batch(indices);
                optimizer.zero_grad();
                nn.functional.cross_entropy(model.call(x), y).backward();
                optimizer.step();
                if (++step == steps)
                {
                    break;
                }
            }
        }
    }

    /// <summary>Other test classes reseed the global generator in parallel, so the weights come from a
    /// private one: uniform ±1/√fanIn, conv and linear biases zero.</summary>
    internal static void InitialiseDeterministically(ZooModel model, int seed)
    {
        using var generator = new Generator((ulong)seed, new Device(DeviceType.CPU));
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (parameter.dim() >= 2)
            {
                double bound = 1 / Math.Sqrt(parameter.numel() / parameter.shape[0]);
                using var values = rand(parameter.shape, generator: generator) * (2 * bound) - bound;
                parameter.copy_(values);
            }
            else if (name.EndsWith(".bias", StringComparison.Ordinal) && !name.Contains("bn", StringComparison.Ordinal))
            {
                parameter.zero_();
            }
        }
    }
}
