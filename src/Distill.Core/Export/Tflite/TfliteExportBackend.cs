using System.Globalization;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using static TorchSharp.torch;

namespace Distill.Core.Export.Tflite;

/// <summary>TFLite flatbuffers (fp32, or int8 full-integer with fully connected weights per tensor), batch fixed at 1,
/// NHWC, run in Arm NN's portable reference backend (python3-pyarmnn). That backend takes about 38 ms a sample, so a
/// classifier is verified on a stratified sample of <see cref="VerifySamples"/> test samples by default
/// (<see cref="VerificationSample"/>). No language models.</summary>
public sealed class TfliteExportBackend : ExportBackend
{
    /// <summary>The default number of test samples a file is verified on in Arm NN.</summary>
    public const long VerifySamples = 1000;

    public override string Name => "tflite";
    public override string Doc => "TFLite (fp32, int8 full-integer), verified in Arm NN (CpuRef, about 38 ms a sample)";
    public override string Title => "TFLite";
    public override string FileExtension => ".tflite";
    public override string Runtime => "Arm NN (CpuRef)";
    public override string RuntimeName => "Arm NN";
    public override IReadOnlyList<ExportPrecision> Precisions { get; } = [ExportPrecision.Float32, ExportPrecision.Int8];
    public override bool IntegerIo => true;
    public override long DefaultVerifySamples => VerifySamples;

    /// <summary>Fully connected weights per tensor (TFLite's int8 spec; Arm NN 20.08 fails on per-channel ones).</summary>
    public override IReadOnlyList<LayerOverride> QuantOverrides(QuantScheme weights) => weights.PerChannel
        ? [.. TfliteExporter.Int8QuantConfig.Overrides.Select(o => o with { Weights = weights with { PerChannel = false } })]
        : [];

    public override IModelExporter ClassifierExporter() => new TfliteExporter(batchSize: 1);

    public override ExportSignature ClassifierSignature(long[] inputShape, int classes) => inputShape.Length == 3
        ? new(TfliteExporter.InputName, [1, inputShape[1], inputShape[2], inputShape[0]], "NHWC", "fixed 1", TfliteExporter.OutputName, [1, classes])
        : new(TfliteExporter.InputName, [1, inputShape.Aggregate(1L, (a, b) => a * b)], "NC", "fixed 1", TfliteExporter.OutputName, [1, classes]);

    public override string QuantizedLayout => "TFLite int8 full-integer (QUANTIZE at the input, DEQUANTIZE at the output unless io is int8)";

    /// <summary>One sample at a time; latency: the mean time per sample over the samples run.</summary>
    public override RuntimeRun RunClassifier(string path, Tensor input, RuntimeSettings settings)
    {
        using var runner = new ArmNnRunner(path, cancel: settings.Cancel);
        var logits = runner.Run(input, settings.Progress, settings.Cancel);
        long n = input.shape[0];
        double perSample = runner.LastInferenceTime.TotalMilliseconds / n;
        return new RuntimeRun(logits, [new ExportLatency(Runtime, 1, perSample, (int)n, 1,
            string.Create(CultureInfo.InvariantCulture, $"mean time per sample over the {n:N0} verification samples, batch 1, Arm NN's portable reference backend (not NEON)"))]);
    }
}
