using Distill.Core.Training;
using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Tests.Data;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Quantization;

/// <summary>A small cnn trained once on the shipped optical digits (8x8 images).</summary>
public sealed class DigitsCnnFixture : IDisposable
{
    public DigitsCnnFixture()
    {
        var options = new DataOptions
        {
            Format = DataFormat.Csv,
            TrainCsv = "digits/digits.csv.gz",
            CsvHasHeader = false,
            CsvScale = 16,
            ImageShape = [1, 8, 8],
        };
        Data = DatasetLoader.Load(options, TestData.DataDir, seed: 5);
        Model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16], Hidden = [32] }, Data.InputShape, Data.NumClasses);
        InitialiseDeterministically(Model);
        using var optimizer = optim.Adam(Model.parameters(), 0.01);
        Model.train();
        int step = 0;
        for (int epoch = 0; step < 300; epoch++)
        {
            foreach (var indices in BatchSampler.Batches(Data.Train.Count, 64, shuffle: true, seed: epoch))
            {
                using var scope = NewDisposeScope();
                var (x, y) = Data.Train.Batch(indices);
                optimizer.zero_grad();
                nn.functional.cross_entropy(Model.call(x), y).backward();
                optimizer.step();
                if (++step == 300)
                {
                    break;
                }
            }
        }
        Model.eval();
        FloatAccuracy = Evaluator.Evaluate(Model, Data.Test).Accuracy;
    }

    /// <summary>Other test classes reseed the global generator in parallel, so the weights are drawn from
    /// a private one: uniform ±1/√fanIn as TorchSharp's default, biases of convs and linears zero.</summary>
    private static void InitialiseDeterministically(ZooModel model)
    {
        using var generator = new Generator(5, new Device(DeviceType.CPU));
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

    public DataSplits Data { get; }
    public ZooModel Model { get; }
    public double FloatAccuracy { get; }

    public void Dispose()
    {
        Model.Dispose();
        Data.Dispose();
    }
}

public class PostTrainingQuantizationTests(DigitsCnnFixture digits, ITestOutputHelper output) : IClassFixture<DigitsCnnFixture>
{
    [Fact]
    public void Int8PerChannelMinMaxStaysWithinTwoPointsOfFloat()
    {
        Assert.True(digits.FloatAccuracy > 0.9, $"the float cnn should learn digits, got {digits.FloatAccuracy:P1}");
        using var quantized = PostTrainingCalibrator.Calibrate(digits.Model, digits.Data.Train, batches: 8, batchSize: 64, new QuantConfig());
        double accuracy = Evaluator.Evaluate(quantized, digits.Data.Test).Accuracy;
        output.WriteLine($"float {digits.FloatAccuracy:P2}, int8 {accuracy:P2}");
        Assert.InRange(accuracy, digits.FloatAccuracy - 0.02, digits.FloatAccuracy + 0.02);
    }

    [Fact]
    public void FourBitWeightsLoseMoreThanEightBit()
    {
        (double Accuracy, double Loss, double LogitError) WithWeightBits(int bits)
        {
            var config = new QuantConfig { Weights = QuantScheme.WeightInt8PerChannel with { Bits = bits } };
            using var quantized = PostTrainingCalibrator.Calibrate(digits.Model, digits.Data.Train, 8, 64, config);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var (x, y) = (digits.Data.Test.Features, digits.Data.Test.Labels);
            var logits = quantized.call(x);
            double loss = nn.functional.cross_entropy(logits, y).item<float>();
            double logitError = (logits - digits.Model.call(x)).square().mean().item<float>();
            return (Evaluator.Evaluate(quantized, digits.Data.Test).Accuracy, loss, logitError);
        }
        var int8 = WithWeightBits(8);
        var int4 = WithWeightBits(4);
        output.WriteLine($"float {digits.FloatAccuracy:P2}; 8-bit weights {int8}; 4-bit weights {int4}");
        // Accuracy on 360 samples moves in steps of 0.28 points and may tie; loss and logit error may not.
        Assert.True(int4.Accuracy <= int8.Accuracy, $"4-bit accuracy {int4.Accuracy:P2} above 8-bit {int8.Accuracy:P2}");
        Assert.True(int4.Loss > int8.Loss, $"4-bit test loss {int4.Loss} should exceed 8-bit {int8.Loss}");
        Assert.True(int4.LogitError > int8.LogitError, $"4-bit logit error {int4.LogitError} should exceed 8-bit {int8.LogitError}");
    }

    [Fact]
    public void CompareReportsEveryObserver()
    {
        var observers = Enum.GetValues<ObserverKind>();
        var results = PostTrainingCalibrator.Compare(digits.Model, digits.Data.Train, digits.Data.Test, batches: 4, batchSize: 64,
            new QuantConfig(), observers);
        Assert.Equal(observers, results.Select(r => r.Observer).ToArray());
        foreach (var r in results)
        {
            output.WriteLine($"{r.Observer,-20} float {r.FloatAccuracy:P2}  quantised {r.QuantizedAccuracy:P2}  {r.CalibrationTime.TotalMilliseconds:F0} ms");
            Assert.Equal(digits.FloatAccuracy, r.FloatAccuracy);
            Assert.Equal(256, r.CalibrationSamples);
            Assert.True(r.CalibrationTime > TimeSpan.Zero);
            Assert.InRange(r.QuantizedAccuracy, digits.FloatAccuracy - 0.05, 1.0);
            Assert.Equal(1 + 2 * 4, r.Parameters.Count); // input + weight and output of block0.conv, block1.conv, head.fc0, head.out
        }
        // Histogram observers clip: their output ranges are narrower than min-max's.
        float OutputSpan(CalibrationResult r) => r.Parameters.Single(p => p.Name == "block0.conv.output").Params.Scale[0];
        Assert.True(OutputSpan(results.Single(r => r.Observer == ObserverKind.Percentile)) < OutputSpan(results.Single(r => r.Observer == ObserverKind.MinMax)));
    }

    [Fact]
    public void CalibrationDataOfTheWrongShapeIsRejectedNamingTheShapes()
    {
        using var scope = NewDisposeScope();
        using var flat = new TensorDataset(randn(10, 64), zeros(10, ScalarType.Int64));
        var error = Assert.Throws<InvalidInputException>(() => PostTrainingCalibrator.Calibrate(digits.Model, flat, 1, 8, new QuantConfig()));
        Assert.Contains("[64]", error.Message);
        Assert.Contains("[1,8,8]", error.Message);
        Assert.Throws<InvalidInputException>(() => PostTrainingCalibrator.Compare(digits.Model, digits.Data.Train, flat, 1, 8, new QuantConfig(), [ObserverKind.MinMax]));
        Assert.Throws<InvalidInputException>(() => PostTrainingCalibrator.Calibrate(digits.Model, digits.Data.Train, 0, 8, new QuantConfig()));
    }
}
