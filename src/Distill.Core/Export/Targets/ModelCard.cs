using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Quantization;

namespace Distill.Core.Export.Targets;

/// <summary>The model card written next to every export (model_card.json). Its static part (what the file
/// takes and gives, preprocessing, labels, quantisation, calibration, source) is also stored in the file's
/// metadata under <see cref="MetadataKey"/>; the card adds what was measured and verified.</summary>
public static class ModelCard
{
    public const string MetadataKey = "distill.model_card";
    public const string FileName = "model_card.json";
    public const string Schema = "distill.model_card/1";

    public const string OutputMeaning =
        "logits: unnormalised scores, one per class in label order; argmax is the predicted class, softmax gives probabilities";

    // Relaxed escaping keeps quotes, '+' and '>' literal: the card is UTF-8 data, not HTML, and it is embedded in every exported file.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The card's static part. <paramref name="quantized"/> is the frozen model the integer file comes from.</summary>
    public static JsonObject Static(ZooModel model, TargetProfile profile, QuantizedZooModel? quantized, Normalization? normalization,
        DataReading? reading, ExportSource source, string calibration, long calibrationSamples)
    {
        var card = new JsonObject
        {
            ["schema"] = Schema,
            ["target"] = new JsonObject
            {
                ["name"] = profile.Name,
                ["description"] = profile.Description,
                ["format"] = profile.Format == ExportFormat.Onnx ? "onnx" : "tflite",
                ["precision"] = Precision(profile.Precision),
                ["profile"] = profile.Source,
            },
            ["model"] = new JsonObject
            {
                ["arch"] = model.Spec.Arch.ToString().ToLowerInvariant(),
                ["parameters"] = model.ParameterCount,
                ["classes"] = model.NumClasses,
                ["input_shape"] = Shape(model.InputShape),
            },
            ["input"] = Input(model, profile, quantized),
            ["preprocessing"] = Preprocessing(normalization, reading),
            ["labels"] = new JsonArray([.. Enumerable.Range(0, model.NumClasses).Select(i => (JsonNode)JsonValue.Create(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))]),
            ["output"] = new JsonObject
            {
                ["name"] = profile.Format == ExportFormat.Onnx ? Onnx.OnnxExporter.OutputName : Tflite.TfliteExporter.OutputName,
                ["shape"] = Shape([profile.Format == ExportFormat.Onnx ? -1 : 1, model.NumClasses]),
                ["dtype"] = IoType(profile),
                ["meaning"] = OutputMeaning,
            },
            ["quantization"] = quantized is null ? null : Quantization(quantized, profile),
            ["calibration"] = quantized is null ? null : new JsonObject
            {
                ["method"] = calibration,
                ["observer"] = ObserverName(quantized.Config.ActivationObserver),
                ["samples"] = calibrationSamples,
            },
            ["source"] = new JsonObject
            {
                ["run_id"] = source.RunId,
                ["checkpoint"] = source.Checkpoint,
                ["distill_version"] = VersionInfo.Distill,
            },
        };
        return card;
    }

    /// <summary>The full card: the static part plus the export's measurements and verification.</summary>
    public static JsonObject Full(JsonObject staticPart, ExportedModelInfo info, TestMeasurement test,
        IEnumerable<ExportLatency> latencies, ExportVerification verification)
    {
        var card = (JsonObject)staticPart.DeepClone();
        var input = (JsonObject)card["input"]!;
        input["name"] = info.InputName;
        input["shape"] = Shape(info.InputShape);
        input["dtype"] = info.InputDType;
        input["layout"] = info.InputLayout;
        input["quantization"] = QParamsNode(info.InputQuant);
        var output = (JsonObject)card["output"]!;
        output["name"] = info.OutputName;
        output["shape"] = Shape(info.OutputShape);
        output["dtype"] = info.OutputDType;
        output["quantization"] = QParamsNode(info.OutputQuant);
        card["measured"] = new JsonObject
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
            ["size_bytes"] = info.SizeBytes,
            ["latency"] = new JsonArray([.. latencies.Select(l => (JsonNode)new JsonObject
            {
                ["runtime"] = l.Runtime,
                ["batch"] = l.Batch,
                ["median_ms"] = l.MedianMs,
                ["runs"] = l.Runs,
                ["threads"] = l.Threads,
                ["note"] = l.Note,
            })]),
        };
        card["verification"] = new JsonObject
        {
            ["runtime"] = verification.Runtime,
            ["reference"] = verification.Reference,
            ["criterion"] = verification.Criterion,
            ["value"] = verification.Value,
            ["threshold"] = verification.Threshold,
            ["max_abs_logit_diff"] = verification.MaxAbsLogitDiff,
            ["top1_agreement"] = verification.Top1Agreement,
            ["samples"] = verification.Samples,
            ["onnx_checker"] = verification.OnnxChecker,
            ["passed"] = verification.Passed,
        };
        return card;
    }

    public static string ToJson(JsonNode card, bool indented) => card.ToJsonString(indented ? Indented : Compact);

    private static JsonObject Input(ZooModel model, TargetProfile profile, QuantizedZooModel? quantized)
    {
        long[] shape;
        string layout;
        if (profile.Format == ExportFormat.Onnx)
        {
            shape = [-1, .. model.InputShape];
            layout = model.InputShape.Length == 3 ? "NCHW" : "NC";
        }
        else
        {
            shape = model.InputShape.Length == 3
                ? [1, model.InputShape[1], model.InputShape[2], model.InputShape[0]]
                : [1, model.InputShape.Aggregate(1L, (a, b) => a * b)];
            layout = model.InputShape.Length == 3 ? "NHWC" : "NC";
        }
        return new JsonObject
        {
            ["name"] = Onnx.OnnxExporter.InputName,
            ["shape"] = Shape(shape),
            ["dtype"] = IoType(profile),
            ["layout"] = layout,
            ["batch"] = profile.Format == ExportFormat.Onnx ? "dynamic (first dimension)" : "fixed 1",
        };
    }

    private static string IoType(TargetProfile profile) => profile switch
    {
        { Precision: ExportPrecision.Float16, Float32Io: false } => "float16",
        { Format: ExportFormat.Tflite, Precision: ExportPrecision.Int8, IntegerIo: true } => "int8",
        _ => "float32",
    };

    private static JsonObject Preprocessing(Normalization? normalization, DataReading? reading) => new()
    {
        ["steps"] = "pixels (IDX) as bytes / 255, CSV features / the recipe's scale; then per channel (x - mean) / std",
        ["data_format"] = reading?.Format.ToString().ToLowerInvariant(),
        ["scale"] = reading?.Scale,
        ["csv_header"] = reading?.Format == DataFormat.Csv ? reading.Header : null,
        ["label_column"] = reading?.LabelColumn,
        ["mean"] = normalization is null ? null : new JsonArray([.. normalization.Mean.Select(v => (JsonNode)JsonValue.Create(v))]),
        ["std"] = normalization is null ? null : new JsonArray([.. normalization.Std.Select(v => (JsonNode)JsonValue.Create(v))]),
    };

    private static JsonObject Quantization(QuantizedZooModel quantized, TargetProfile profile)
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
            ["weights"] = SchemeNode(quantized.Config.Weights),
            ["activations"] = SchemeNode(quantized.Config.Activations),
            ["bias"] = "int32, scale = input scale x weight scale, zero point 0",
            ["input"] = quantized.Layers[0].FloatWeights
                ? "float: the first conv computes in float with float weights; its output is quantised"
                : quantized.Config.QuantizeInput ? "quantised with the activation scheme" : "float",
            ["batch_norm"] = quantized.Config.FoldBatchNorm ? "folded into the conv before quantising" : "not folded",
            ["layers"] = layers,
            ["layers_note"] = "layers listed here differ from the weights/activations schemes above; every other layer follows them",
            ["layout"] = profile.Format == ExportFormat.Onnx
                ? "QDQ: DequantizeLinear -> Conv/Gemm -> QuantizeLinear (ONNX Runtime fuses into QLinearConv/QGemm)"
                : "TFLite int8 full-integer (QUANTIZE at the input, DEQUANTIZE at the output unless io is int8)",
        };
    }

    private static JsonObject SchemeNode(QuantScheme scheme) => new()
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

    private static JsonObject? QParamsNode(QParams? q) => q is null ? null : new JsonObject
    {
        ["scale"] = q.Scale.Length == 1 ? q.Scale[0] : null,
        ["zero_point"] = q.ZeroPoint.Length == 1 ? q.ZeroPoint[0] : null,
        ["scheme"] = q.Scheme.ToString(),
    };

    private static JsonArray Shape(IEnumerable<long> shape) => new([.. shape.Select(d => (JsonNode)JsonValue.Create(d))]);

    public static string Precision(ExportPrecision precision) => precision switch
    {
        ExportPrecision.Float16 => "fp16",
        ExportPrecision.Int8 => "int8",
        _ => "fp32",
    };

    public static string ObserverName(ObserverKind kind) => Observers.NameOf(kind);
}
