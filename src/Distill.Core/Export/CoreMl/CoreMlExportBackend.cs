using System.Text.Json.Nodes;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using static TorchSharp.torch;

namespace Distill.Core.Export.CoreMl;

/// <summary>Core ML <c>.mlmodel</c> files (a NeuralNetworkClassifier, specification version 4: fp32, fp16 weights, or
/// 8-bit linear-quantised weights with float activations). No Core ML runtime exists outside Apple's systems, so a
/// file is checked here by <see cref="CoreMlSpecCheck"/> only and is not run: its export measures no accuracy or latency,
/// and <c>distill eval</c> refuses it. The tests run the written layers in a reference evaluator against the student.</summary>
public sealed class CoreMlExportBackend : ExportBackend
{
    public const string NoRuntime = "no Core ML runtime exists outside Apple's systems";

    public override string Name => "coreml";
    public override string Doc => "Core ML .mlmodel (NeuralNetwork classifier, spec 4: fp32, fp16 weights, 8-bit weights), checked against the specification; not run here";
    public override string Title => "Core ML";
    public override string FileExtension => ".mlmodel";
    public override string Runtime => "no Core ML runtime (none exists outside Apple's systems)";
    public override string RuntimeName => "Core ML";
    public override IReadOnlyList<ExportPrecision> Precisions { get; } = [ExportPrecision.Float32, ExportPrecision.Float16, ExportPrecision.Int8];
    public override bool HasRuntime => false;
    public override bool Int8WeightsOnly => true;

    public override string? ProfileProblem(TargetProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (profile.Precision == ExportPrecision.Float16 && !profile.Float32Io)
            return "fp32_io: Core ML fp16 files keep float32 input and output (float16 multiArrays need specification 7); leave fp32_io at true";
        if (profile.IsInteger && profile.Weights.Bits != CoreMlWeights.Bits)
            return $"weights: Core ML int8 files hold {CoreMlWeights.Bits}-bit weights, not {profile.Weights.Bits}-bit (reduce_range is 7-bit)";
        return null;
    }

    public override IModelExporter ClassifierExporter() => new CoreMlExporter();

    public override ExportSignature ClassifierSignature(long[] inputShape, int classes) => new(
        CoreMlExporter.InputName, [1, .. inputShape], inputShape.Length == 3 ? "NCHW" : "NC", "fixed 1",
        CoreMlExporter.LogitsName, [1, classes]);

    public override string QuantizedLayout =>
        "weights only: 8-bit codes in rawValue with linear quantisation (W = q * scale + bias); Core ML dequantises them at load, activations and biases stay float";

    public override JsonObject WeightsOnlyQuantization(QuantScheme weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return new JsonObject
        {
            ["weights"] = weights.Symmetric
                ? $"8-bit symmetric: codes ±127 around 128, scale max|w| / 127, {(weights.PerChannel ? "one per output channel" : "one per tensor")}"
                : $"8-bit asymmetric: range [min(w, 0), max(w, 0)] in 255 steps, zero exact (bias = -zero_point * scale), {(weights.PerChannel ? "one per output channel" : "one per tensor")}",
            ["activations"] = "float (not quantised)",
            ["batch_norm"] = "folded into the conv before quantising",
            ["calibration"] = "none needed: the weights' own ranges",
            ["layout"] = QuantizedLayout,
        };
    }

    /// <summary>"passed" or "failed: " with the problems <see cref="CoreMlSpecCheck"/> found.</summary>
    public override string CheckFile(string path, CancellationToken cancel = default) =>
        CoreMlSpecCheck.Problems(path) is { Count: > 0 } problems ? "failed: " + string.Join("; ", problems) : "passed";

    /// <exception cref="InvalidInputException">Always: there is no Core ML runtime to run the file in.</exception>
    public override RuntimeRun RunClassifier(string path, Tensor input, RuntimeSettings settings) =>
        throw new InvalidInputException(
            $"{path}: cannot run a Core ML file: {NoRuntime}. The export checked it against the specification; on a Mac, run it with coremltools (see docs/export.md)");
}
