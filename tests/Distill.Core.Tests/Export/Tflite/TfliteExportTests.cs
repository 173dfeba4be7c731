using System.Diagnostics;
using System.Text;
using Distill.Core.Export;
using Distill.Core.Export.Tflite;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Google.FlatBuffers;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export.Tflite;

/// <summary>Exports trained zoo models to TFLite and runs them in Arm NN's reference backend (CpuRef).
/// These tests need Debian's python3-pyarmnn; without it they fail.</summary>
public sealed class TfliteExportTests(TrainedZooModels models, ITestOutputHelper output) : IClassFixture<TrainedZooModels>, IDisposable
{
    private const int FloatSamples = 200;
    private const int Int8Samples = 400;
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"distill-tflite-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(TrainedZooModels.PlainCnn)]
    [InlineData(TrainedZooModels.DepthwiseCnn)]
    [InlineData(TrainedZooModels.CnnWithoutBatchNorm)]
    [InlineData(TrainedZooModels.Mlp)]
    public void Float32ModelInArmNnComputesTheTorchLogits(string name)
    {
        var trained = models[name];
        var info = Export(trained, ExportPrecision.Float32);
        Assert.Equal("float32", info.InputDType);
        Assert.Equal(trained.Model.InputShape.Length == 3 ? "NHWC" : "NC", info.InputLayout);

        using var scope = NewDisposeScope();
        var (x, _) = trained.TestSamples(FloatSamples);
        using var runner = new ArmNnRunner(info.Path);
        var stopwatch = Stopwatch.StartNew();
        var logits = runner.Run(x);
        stopwatch.Stop();
        Tensor expected;
        using (no_grad())
        {
            expected = trained.Model.call(x);
        }
        double maxDiff = (logits - expected).abs().max().item<float>();
        double maxLogit = expected.abs().max().item<float>();
        output.WriteLine($"{name} float32: max |logit diff| {maxDiff:E2} (logits up to {maxLogit:F1}), " +
            $"float accuracy {trained.FloatAccuracy:P1}, Arm NN CpuRef {PerSample(runner.LastInferenceTime, FloatSamples)} per sample, " +
            $"{stopwatch.Elapsed.TotalSeconds:F1} s per Run() with start-up, {info.SizeBytes} bytes");
        Assert.True(trained.FloatAccuracy > 0.7, $"{name} should have learnt its data, accuracy {trained.FloatAccuracy:P1}");
        Assert.True(maxDiff <= 1e-4, $"{name}: Arm NN logits differ from TorchSharp's by up to {maxDiff}");
    }

    [Theory]
    [InlineData(TrainedZooModels.PlainCnn)]
    [InlineData(TrainedZooModels.DepthwiseCnn)]
    [InlineData(TrainedZooModels.CnnWithoutBatchNorm)]
    [InlineData(TrainedZooModels.Mlp)]
    public void Int8ModelInArmNnAgreesWithTheFakeQuantisedModel(string name)
    {
        var trained = models[name];
        var info = Export(trained, ExportPrecision.Int8);
        Assert.Equal("float32", info.InputDType);
        Assert.Null(info.InputQuant);

        using var runner = new ArmNnRunner(info.Path);
        var (agreement, maxDiff, accuracy, samples) = CompareWithFakeQuant(trained, runner);
        output.WriteLine($"{name} int8: top-1 agreement with fake-quant {agreement:P2} on {samples} samples, max |logit diff| {maxDiff:F4}, " +
            $"accuracy {accuracy:P1} (float {trained.FloatAccuracy:P1}), Arm NN CpuRef {PerSample(runner.LastInferenceTime, samples)} per sample, " +
            $"{info.SizeBytes} bytes");
        Assert.True(agreement >= 0.99, $"{name}: int8 TFLite agrees with the fake-quantised model on only {agreement:P2} of the samples");
    }

    [Fact]
    public void PerChannelFullyConnectedWeightsAreRequantisedPerTensor()
    {
        var trained = models[TrainedZooModels.PlainCnn];
        using var perChannel = PostTrainingCalibrator.Calibrate(trained.Model, trained.Data.Train, batches: 8, batchSize: 64, new QuantConfig());
        Assert.True(perChannel.QuantParameters().Single(p => p.Name == "head.fc0.weight").Params.Count > 1);
        var info = new TfliteExporter().Export(trained.Model, perChannel,
            new ExportOptions { Precision = ExportPrecision.Int8 }, Path.Combine(_dir, "per-channel.tflite"));

        using var runner = new ArmNnRunner(info.Path);
        var (agreement, maxDiff, accuracy, _) = CompareWithFakeQuant(trained, runner, perChannel);
        output.WriteLine($"per-channel fully connected weights, requantised per tensor: top-1 agreement {agreement:P2}, " +
            $"max |logit diff| {maxDiff:F4}, accuracy {accuracy:P1} (float {trained.FloatAccuracy:P1})");
        Assert.True(agreement >= 0.97, $"requantised model agrees with the per-channel fake-quantised one on only {agreement:P2}");
    }

    [Fact]
    public void IntegerIoModelTakesAndGivesInt8()
    {
        var trained = models[TrainedZooModels.DepthwiseCnn];
        var info = Export(trained, ExportPrecision.Int8, integerIo: true);
        var parameters = trained.Quantized.QuantParameters().ToDictionary(p => p.Name, p => p.Params);
        Assert.Equal("int8", info.InputDType);
        Assert.Equal("int8", info.OutputDType);
        Assert.Equal([1L, 28, 28, 1], info.InputShape);
        Assert.Equal([1L, 10], info.OutputShape);
        Assert.Equal(parameters["input"].Scale, info.InputQuant!.Scale);
        Assert.Equal(parameters["input"].ZeroPoint, info.InputQuant.ZeroPoint);
        Assert.Equal(parameters["head.out.output"].Scale, info.OutputQuant!.Scale);

        using var runner = new ArmNnRunner(info.Path);
        Assert.True(runner.InputIsInteger);
        Assert.True(runner.OutputIsInteger);
        var (agreement, maxDiff, _, _) = CompareWithFakeQuant(trained, runner);
        output.WriteLine($"integer I/O: agreement {agreement:P2}, max |logit diff| {maxDiff:F4}");
        Assert.True(agreement >= 0.99, $"integer-I/O model agrees on only {agreement:P2}");
    }

    [Fact]
    public void FixedBatchModelRunsEverySampleIncludingAPaddedLastBatch()
    {
        var trained = models[TrainedZooModels.Mlp];
        string path = Path.Combine(_dir, "batch7.tflite");
        var info = new TfliteExporter(batchSize: 7).Export(trained.Model, null, new ExportOptions(), path);
        Assert.Equal([7L, 64], info.InputShape);
        Assert.Equal([7L, 10], info.OutputShape);

        using var scope = NewDisposeScope();
        var (x, _) = trained.TestSamples(100);
        using var runner = new ArmNnRunner(info.Path);
        Assert.Equal([7L, 64], runner.InputShape);
        var logits = runner.Run(x);
        Tensor expected;
        using (no_grad())
        {
            expected = trained.Model.call(x);
        }
        Assert.Equal([100L, 10], logits.shape);
        double maxDiff = (logits - expected).abs().max().item<float>();
        Assert.True(maxDiff <= 1e-4, $"batched Arm NN logits differ by up to {maxDiff}");
    }

    [Fact]
    public void FileIsATfl3FlatBufferWithTheSentinelBufferAndTheMetadata()
    {
        var trained = models[TrainedZooModels.PlainCnn];
        var metadata = new Dictionary<string, string> { ["distill.model_card"] = "{\"name\":\"cnn\"}" };
        var info = Export(trained, ExportPrecision.Int8, metadata: metadata);
        byte[] bytes = File.ReadAllBytes(info.Path);
        Assert.Equal(bytes.LongLength, info.SizeBytes);
        Assert.Equal("TFL3", Encoding.ASCII.GetString(bytes, 4, 4));

        var bb = new ByteBuffer(bytes);
        var model = new Table(bb.GetInt(0), bb);
        Assert.Equal(3u, bb.GetUint(model.bb_pos + model.__offset(Slot(0))));
        int buffers = model.__vector(model.__offset(Slot(4)));
        var sentinel = new Table(model.__indirect(buffers), bb);
        Assert.Equal(0, sentinel.__offset(Slot(0)));

        int metadataVector = model.__vector(model.__offset(Slot(6)));
        Assert.Equal(1, model.__vector_len(model.__offset(Slot(6))));
        var entry = new Table(model.__indirect(metadataVector), bb);
        Assert.Equal("distill.model_card", entry.__string(entry.bb_pos + entry.__offset(Slot(0))));
        uint bufferIndex = bb.GetUint(entry.bb_pos + entry.__offset(Slot(1)));
        var buffer = new Table(model.__indirect(buffers + 4 * (int)bufferIndex), bb);
        int data = buffer.__vector(buffer.__offset(Slot(0)));
        int length = buffer.__vector_len(buffer.__offset(Slot(0)));
        Assert.Equal(0, data % 16);
        Assert.Equal(metadata["distill.model_card"], Encoding.UTF8.GetString(bytes, data, length));
    }

    [Fact]
    public void ExportReplacesAnExistingFileAndLeavesNoTemporaryFile()
    {
        var trained = models[TrainedZooModels.Mlp];
        string path = Path.Combine(_dir, "model.tflite");
        File.WriteAllText(path, "old");
        var info = new TfliteExporter().Export(trained.Model, null, new ExportOptions(), path);
        Assert.Equal(Path.GetFullPath(path), info.Path);
        Assert.Equal(new FileInfo(path).Length, info.SizeBytes);
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void EvenKernelIsRejectedNamingTheLayer()
    {
        var data = models[TrainedZooModels.PlainCnn].Data;
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [4], KernelSize = 2 }, data.InputShape, data.NumClasses);
        string path = Path.Combine(_dir, "even.tflite");
        var error = Assert.Throws<InvalidInputException>(() =>
            new TfliteExporter().Export(model, null, new ExportOptions(), path));
        Assert.Contains("'block0.conv'", error.Message);
        Assert.Contains("kernel size 2", error.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void FloatLayerInAnInt8ModelIsRejectedNamingTheLayer()
    {
        var trained = models[TrainedZooModels.Mlp];
        var config = new QuantConfig { Overrides = [new LayerOverride { Pattern = "head.fc1", Float = true }] };
        using var quantized = PostTrainingCalibrator.Calibrate(trained.Model, trained.Data.Train, batches: 2, batchSize: 64, config);
        var error = Assert.Throws<InvalidInputException>(() => new TfliteExporter().Export(
            trained.Model, quantized, new ExportOptions { Precision = ExportPrecision.Int8 }, Path.Combine(_dir, "float.tflite")));
        Assert.Contains("'head.fc1'", error.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void UnsignedActivationsAreRejectedNamingTheTensor()
    {
        var trained = models[TrainedZooModels.Mlp];
        var config = new QuantConfig { Activations = QuantScheme.ActivationUInt8 };
        using var quantized = PostTrainingCalibrator.Calibrate(trained.Model, trained.Data.Train, batches: 2, batchSize: 64, config);
        var error = Assert.Throws<InvalidInputException>(() => new TfliteExporter().Export(
            trained.Model, quantized, new ExportOptions { Precision = ExportPrecision.Int8 }, Path.Combine(_dir, "uint8.tflite")));
        Assert.Contains("'input'", error.Message);
        Assert.Contains("uint8", error.Message);
    }

    [Fact]
    public void MissingPythonIsAClearError()
    {
        var info = Export(models[TrainedZooModels.Mlp], ExportPrecision.Float32);
        var error = Assert.Throws<RunFailedException>(() => new ArmNnRunner(info.Path, python: Path.Combine(_dir, "no-python3")));
        Assert.Contains("python3-pyarmnn", error.Message);
    }

    /// <summary>Top-1 agreement and max logit difference of the Arm NN run against the frozen fake-quantised
    /// model (the fixture's unless given), and the Arm NN run's accuracy on the labels.</summary>
    private static (double Agreement, double MaxDiff, double Accuracy, long Samples) CompareWithFakeQuant(TrainedModel trained, ArmNnRunner runner, QuantizedZooModel? quantized = null)
    {
        using var scope = NewDisposeScope();
        var (x, labels) = trained.TestSamples(Int8Samples);
        var logits = runner.Run(x);
        Tensor expected;
        using (no_grad())
        {
            expected = (quantized ?? trained.Quantized).call(x);
        }
        var predicted = logits.argmax(1);
        double agreement = predicted.eq(expected.argmax(1)).to_type(ScalarType.Float64).mean().item<double>();
        double accuracy = predicted.eq(labels).to_type(ScalarType.Float64).mean().item<double>();
        return (agreement, (logits - expected).abs().max().item<float>(), accuracy, x.shape[0]);
    }

    private ExportedModelInfo Export(TrainedModel trained, ExportPrecision precision, bool integerIo = false, Dictionary<string, string>? metadata = null)
    {
        var options = new ExportOptions
        {
            Precision = precision,
            IntegerIo = integerIo,
            Metadata = metadata ?? new Dictionary<string, string>(),
        };
        string path = Path.Combine(_dir, $"{trained.Name}-{precision}{(integerIo ? "-io" : "")}.tflite");
        return new TfliteExporter().Export(trained.Model, precision == ExportPrecision.Int8 ? trained.Quantized : null, options, path);
    }

    private static int Slot(int field) => 4 + 2 * field;

    private static string PerSample(TimeSpan time, long samples) => $"{time.TotalMilliseconds / samples:F2} ms";
}
