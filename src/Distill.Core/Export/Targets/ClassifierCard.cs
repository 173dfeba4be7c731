using System.Globalization;
using System.Text.Json.Nodes;
using Distill.Core.Data;
using Distill.Core.Quantization;

namespace Distill.Core.Export.Targets;

/// <summary>What a classifier's export measured: the test samples run in the runtime and the accuracy there, the
/// latencies (batch 1 first), and whether the student was calibrated afresh for the target. A format with no runtime
/// here (Core ML) measures neither: <see cref="Test"/> is null and <see cref="Latencies"/> empty.</summary>
public sealed record ClassifierExportReport(
    string Target,
    string ModelPath,
    string CardPath,
    long SizeBytes,
    ExportVerification Verification,
    TestMeasurement? Test,
    IReadOnlyList<ExportLatency> Latencies,
    bool CalibratedFresh,
    long CalibrationSamples) : ExportReport(Target, ModelPath, CardPath, SizeBytes, Verification)
{
    public double? TestAccuracy => Test?.Accuracy;
    public long TestSamples => Test?.Samples ?? 0;
    public ExportLatency? LatencyBatch1 => Latencies.Count > 0 ? Latencies[0] : null;
    public ExportLatency? LatencyBatch64 => Latencies.Count > 1 ? Latencies[1] : null;

    /// <summary>The latency run whose energy per inference was measured (ONNX Runtime, batch 64); null when none was.</summary>
    public ExportLatency? Energy => Latencies.FirstOrDefault(l => l.EnergyMjPerInference is not null && l.EnergyMethod is not null);

    /// <summary>test_acc (with test_acc_low and test_acc_high, its 95 % interval, and test_samples), latency_ms_b1,
    /// latency_ms_b64 (ONNX) and agreement with the student; none of them when the file was not run.</summary>
    public override IEnumerable<(string Name, double Value)> Metrics()
    {
        if (Test is null || LatencyBatch1 is null || Verification.Top1Agreement is not { } agreement)
            yield break;
        yield return ("test_acc", Test.Accuracy);
        yield return ("test_acc_low", Test.Low);
        yield return ("test_acc_high", Test.High);
        yield return ("test_samples", Test.Samples);
        yield return ("latency_ms_b1", LatencyBatch1.MedianMs);
        if (LatencyBatch64 is { } b64)
            yield return ("latency_ms_b64", b64.MedianMs);
        if (Energy?.EnergyMjPerInference is { } millijoules)
            yield return ("energy_mj_per_inference", millijoules);
        yield return ("agreement", agreement);
    }

    /// <summary>energy_method, with energy_mj_per_inference.</summary>
    public override IEnumerable<(string Name, string Value)> Tags() =>
        Test is not null && Energy?.EnergyMethod is { } method ? [("energy_method", method)] : [];

    public override string Summary() => Test is null || LatencyBatch1 is null
        ? $"not run: {Verification.Runtime}; no test accuracy or latency measured"
        : string.Format(CultureInfo.InvariantCulture,
        "test accuracy {0:P2} (95 % interval {1:P1} to {2:P1}) on {3} in {4}, latency {5:F3} ms at batch 1{6}",
        Test.Accuracy, Test.Low, Test.High, SampleText(Test), Verification.Runtime, LatencyBatch1.MedianMs,
        LatencyBatch64 is { } b64 ? string.Format(CultureInfo.InvariantCulture, ", {0:F3} ms at batch 64", b64.MedianMs) : "") +
        (Energy is { EnergyMjPerInference: { } mj, EnergyMethod: { } method }
            ? string.Format(CultureInfo.InvariantCulture, ", {0:G3} mJ per inference ({1})", mj, method) : "");

    public override IEnumerable<KeyValuePair<string, JsonNode?>> JsonFields() =>
    [
        new("test_acc", TestAccuracy),
        new("test_acc_interval", Test is null ? null : new JsonArray(Test.Low, Test.High)),
        new("test_samples", TestSamples),
        new("test_samples_available", Test?.Available),
        new("latency_ms_b1", LatencyBatch1?.MedianMs),
        new("latency_ms_b64", LatencyBatch64?.MedianMs),
        new("energy_mj_per_inference", Energy?.EnergyMjPerInference),
        new("energy_method", Energy?.EnergyMethod),
        new("calibrated", CalibratedFresh),
        new("calibration_samples", CalibrationSamples),
    ];

    private static string SampleText(TestMeasurement test) => test.Samples == test.Available
        ? string.Format(CultureInfo.InvariantCulture, "all {0:N0} test samples", test.Samples)
        : string.Format(CultureInfo.InvariantCulture, "{0:N0} of {1:N0} test samples ({2}; --verify-samples all runs every one)", test.Samples, test.Available, test.Selection);
}

/// <summary>The classifier's sections of a model card that do not depend on the format.</summary>
internal static class ClassifierCard
{
    public static JsonObject Preprocessing(Normalization? normalization, DataReading? reading) => new()
    {
        ["steps"] = "pixels (IDX, image folders: RGB or grey, resized to the input's height and width) as bytes / 255, CSV features / the recipe's scale; then per channel (x - mean) / std",
        ["data_format"] = reading?.FormatName,
        ["scale"] = reading?.Scale,
        ["csv_header"] = reading?.Format == DataFormat.Csv ? reading.Header : null,
        ["label_column"] = reading?.LabelColumn,
        ["features"] = reading?.Features is { } features ? new JsonArray([.. features.Select(f => (JsonNode)JsonValue.Create(f))]) : null,
        ["labels_by_name"] = reading?.Format == DataFormat.Csv ? reading.ClassNames is not null : null,
        ["mean"] = normalization is null ? null : new JsonArray([.. normalization.Mean.Select(v => (JsonNode)JsonValue.Create(v))]),
        ["std"] = normalization is null ? null : new JsonArray([.. normalization.Std.Select(v => (JsonNode)JsonValue.Create(v))]),
    };

    /// <summary>The name of each class in label order: the data's class names, else the labels' numbers.</summary>
    public static JsonArray Labels(int classes, DataReading? reading) =>
        new([.. Enumerable.Range(0, classes).Select(i => (JsonNode)JsonValue.Create(
            reading?.ClassNames is { } names && names.Count == classes ? names[i] : i.ToString(CultureInfo.InvariantCulture)))]);

    public static JsonObject Quantization(QuantizedZooModel quantized, ExportBackend backend)
    {
        // Only the layers that differ from the model-wide schemes (mixed precision, layers kept in float).
        var layers = new JsonArray();
        foreach (var layer in quantized.Layers.Where(l => l.IsFloat || l.Weights != quantized.Config.Weights || l.Activations != quantized.Config.Activations))
        {
            layers.Add(new JsonObject
            {
                ["layer"] = layer.Name,
                ["kind"] = layer.Kind.ToString().ToLowerInvariant(),
                ["float"] = layer.IsFloat,
                ["float_weights"] = layer.FloatWeights,
                ["weights"] = layer.Weights?.ToString(),
                ["activations"] = layer.Activations?.ToString(),
            });
        }
        return new JsonObject
        {
            ["weights"] = Scheme(quantized.Config.Weights),
            ["activations"] = Scheme(quantized.Config.Activations),
            ["bias"] = "int32, scale = input scale x weight scale, zero point 0",
            ["input"] = quantized.Layers[0].FloatWeights
                ? "float: the first conv computes in float with float weights; its output is quantised"
                : quantized.Config.QuantizeInput ? "quantised with the activation scheme" : "float",
            ["batch_norm"] = quantized.Config.FoldBatchNorm ? "folded into the conv before quantising" : "not folded",
            ["layers"] = layers,
            ["layers_note"] = "layers listed here differ from the weights/activations schemes above; every other layer follows them",
            ["layout"] = backend.QuantizedLayout,
        };
    }

    public static JsonObject Measured(TestMeasurement test, long sizeBytes, IEnumerable<ExportLatency> latencies) => new()
    {
        ["test_accuracy"] = test.Accuracy,
        ["test_accuracy_interval"] = new JsonObject
        {
            ["low"] = test.Low,
            ["high"] = test.High,
            ["confidence"] = 0.95,
            ["method"] = "Wilson score interval of test_accuracy over test_samples",
        },
        ["test_samples"] = test.Samples,
        ["test_samples_available"] = test.Available,
        ["test_sample_selection"] = test.Selection,
        ["size_bytes"] = sizeBytes,
        ["latency"] = new JsonArray([.. latencies.Select(l => (JsonNode)new JsonObject
        {
            ["runtime"] = l.Runtime,
            ["batch"] = l.Batch,
            ["median_ms"] = l.MedianMs,
            ["runs"] = l.Runs,
            ["threads"] = l.Threads,
            ["note"] = l.Note,
            ["energy_mj_per_inference"] = l.EnergyMjPerInference,
            ["energy_method"] = l.EnergyMethod,
        })]),
    };

    /// <summary>The card's <c>measured</c> of a file not run (no runtime here): its size and why nothing else.</summary>
    public static JsonObject NotRun(long sizeBytes, ExportBackend backend) => new()
    {
        ["test_accuracy"] = null,
        ["size_bytes"] = sizeBytes,
        ["latency"] = new JsonArray(),
        ["not_run"] = $"the file was not run: {backend.Runtime}; it was checked against the {backend.Title} specification only",
    };

    public static JsonObject? QParams(QParams? q) => q is null ? null : new JsonObject
    {
        ["scale"] = q.Scale.Length == 1 ? q.Scale[0] : null,
        ["zero_point"] = q.ZeroPoint.Length == 1 ? q.ZeroPoint[0] : null,
        ["scheme"] = q.Scheme.ToString(),
    };

    private static JsonObject Scheme(QuantScheme scheme) => new()
    {
        ["description"] = scheme.ToString(),
        ["bits"] = scheme.Bits,
        ["signed"] = scheme.Signed,
        ["symmetric"] = scheme.Symmetric,
        ["per_channel"] = scheme.PerChannel,
        ["narrow_range"] = scheme.NarrowRange,
        ["qmin"] = scheme.QMin,
        ["qmax"] = scheme.QMax,
    };
}
