using System.Text.Json.Nodes;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using Distill.Core.Text;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Distill.Core.Export.Onnx;

/// <summary>ONNX files (opset 13–22; QDQ int8, fp16, fp32), checked by the ONNX checker (python3-onnx) and run in
/// ONNX Runtime on the CPU. Batch dynamic, NCHW; the model card is also in the file's metadata_props. Language
/// models: fp32, int8 matmul weights in ONNX Runtime's dynamic-quantisation form, or 4-bit group-wise weights
/// (MatMulNBits).</summary>
public sealed class OnnxExportBackend : ExportBackend
{
    /// <summary>Latency: untimed runs before the timed ones, and timed runs (the median is reported).</summary>
    public const int LatencyWarmup = 10;
    public const int LatencyRuns = 30;

    public override string Name => "onnx";
    public override string Doc => "ONNX (fp32, fp16, int8 QDQ), checked by the ONNX checker and verified in ONNX Runtime (CPU)";
    public override string Title => "ONNX";
    public override string FileExtension => ".onnx";
    public override string Runtime => "ONNX Runtime (CPU)";
    public override string RuntimeName => "ONNX Runtime";
    public override IReadOnlyList<ExportPrecision> Precisions { get; } = [ExportPrecision.Float32, ExportPrecision.Float16, ExportPrecision.Int8];
    public override bool FirstLayerFloat => true;

    public override bool FloatLayers => true;
    public override bool Opset => true;
    public override bool ExposesTaps => true;

    public override IModelExporter ClassifierExporter() => new OnnxExporter();

    public override ExportSignature ClassifierSignature(long[] inputShape, int classes) => new(
        OnnxExporter.InputName, [-1, .. inputShape], inputShape.Length == 3 ? "NCHW" : "NC", "dynamic (first dimension)",
        OnnxExporter.OutputName, [-1, classes]);

    public override string QuantizedLayout => "QDQ: DequantizeLinear -> Conv/Gemm -> QuantizeLinear (ONNX Runtime fuses into QLinearConv/QGemm)";

    /// <summary>"passed", "unavailable: …" when python3-onnx is missing, or "failed: …" with the checker's message.</summary>
    public override string CheckFile(string path, CancellationToken cancel = default)
    {
        try
        {
            OnnxChecker.Check(path, cancel);
            return "passed";
        }
        catch (InvalidOperationException e)
        {
            return "unavailable: " + e.Message;
        }
        catch (InvalidInputException e)
        {
            return "failed: " + e.Message;
        }
    }

    public override bool TimedLatency => true;

    /// <summary>All inputs in one run; latency: the median of <see cref="RuntimeSettings.LatencyRuns"/> (default <see cref="LatencyRuns"/>) runs at batch 1 and at batch 64;
    /// energy per inference (with a meter): over at least <see cref="OnnxLatency.EnergySeconds"/> of further batch-64 runs.</summary>
    public override RuntimeRun RunClassifier(string path, Tensor input, RuntimeSettings settings)
    {
        Tensor logits;
        using (var runner = new OnnxRuntimeRunner(path))
            logits = runner.Run(input, settings.Cancel);
        var latencies = new List<ExportLatency>();
        foreach (int batch in new[] { 1, 64 })
        {
            var l = OnnxLatency.Measure(path, batch, LatencyWarmup, settings.LatencyRuns ?? LatencyRuns, settings.LatencyThreads, settings.Cancel,
                batch == 64 ? settings.Energy : null);
            latencies.Add(new ExportLatency(Runtime, batch, l.MedianMs, l.Runs, l.Threads,
                $"median of {l.Runs} runs after {LatencyWarmup} warm-up runs, {l.Threads} intra-op thread(s)" +
                (l.Energy is null ? "" : $"; energy over {l.EnergyRuns} further runs"),
                l.MillijoulesPerInference, l.Energy?.Method));
        }
        return new RuntimeRun(logits, latencies);
    }

    public override string? CardInFile => "the ONNX metadata";

    public override string? ReadCardInFile(string path)
    {
        try
        {
            using var session = new InferenceSession(path);
            return session.ModelMetadata.CustomMetadataMap.TryGetValue(ModelCard.MetadataKey, out var json) ? json : null;
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidInputException($"ONNX Runtime cannot load '{path}': {e.Message}", e);
        }
    }

    public override ILanguageModelBackend LanguageModels { get; } = new OnnxLanguageModels();

    /// <summary>Language models: <see cref="LmOnnxExporter"/>, run by <see cref="OnnxLmRunner"/>.</summary>
    private sealed class OnnxLanguageModels : ILanguageModelBackend
    {
        public IReadOnlyList<ExportPrecision> Precisions { get; } = [ExportPrecision.Float32, ExportPrecision.Int8, ExportPrecision.Int4];

        public LmSignature Signature { get; } =
            new(LmOnnxExporter.InputName, LmOnnxExporter.BatchDimension, LmOnnxExporter.SequenceDimension, LmOnnxExporter.OutputName);

        public LmInt8Weights Int8Weights(QuantScheme weights, string where)
        {
            if (!weights.Signed || !weights.Symmetric)
                throw new InvalidInputException(
                    $"{where}: int8 language-model export needs signed symmetric weights (MatMulInteger with zero point 0), but the profile's are {weights}");
            return new LmInt8Weights(weights.Bits, weights.PerChannel);
        }

        public JsonObject QuantizationCard(LmInt8Weights int8) => new()
        {
            ["weights"] = $"int{int8.Bits} symmetric (zero point 0, codes ±{(1 << (int8.Bits - 1)) - 1}), {(int8.PerChannel ? "one scale per output feature" : "one scale per matrix")}",
            ["activations"] = "uint8, scale and zero point computed per run from the activation's min/max (DynamicQuantizeLinear)",
            ["matmuls"] = int8.Head ? "attention qkv and proj, mlp_fc, mlp_proj, the tied head" : "attention qkv and proj, mlp_fc, mlp_proj; the tied head stays fp32",
            ["layout"] = "DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale * w_scale) -> Add(bias); ONNX Runtime fuses it into DynamicQuantizeMatMul",
            ["float"] = "embeddings, LayerNorms, attention scores and softmax, GELU",
        };

        public JsonObject QuantizationCard(LmInt4Weights int4, string calibration) => new()
        {
            ["weights"] = $"int4 in groups of {int4.GroupSize} consecutive inputs of one output feature, " +
                (int4.Symmetric ? "symmetric (zero point 8, scale max |w| / 7)" : "asymmetric (a zero point per group, scale (max - min) / 15)"),
            ["method"] = int4.Method == Int4Method.Gptq
                ? $"gptq: one input column at a time, the rounding error spread over the later columns by the inverse Hessian of the layer's output error; calibrated on {calibration}, damping {int4.Damp} of the mean diagonal"
                : "rtn: round to nearest",
            ["matmuls"] = "attention qkv and proj, mlp_fc, mlp_proj; the tied head stays fp32",
            ["layout"] = $"MatMulNBits (com.microsoft): packed codes [N, K / {int4.GroupSize}, {int4.GroupSize / 2}], scales [N * K / {int4.GroupSize}]" +
                (int4.Symmetric ? "" : ", packed zero points") + $", accuracy_level {int4.AccuracyLevel}" +
                (int4.AccuracyLevel == 4 ? " (activations quantised to int8 per group, integer sums)" : int4.AccuracyLevel == 0 ? " (float activations)" : ""),
            ["float"] = "embeddings, LayerNorms, attention scores and softmax, GELU, biases",
        };

        public ExportedModelInfo Export(TransformerLm model, ExportOptions options, string path, LmInt8Weights? int8, LmInt4Export? int4 = null) =>
            LmOnnxExporter.Export(model, options, path, int8, int4);

        public JsonObject? KvCache(TransformerLmOptions options) => LmKvCacheLayout.Of(options).Card(options.Context);

        public ILanguageModelFile Open(string path, int threads) => OnnxLmRunner.Open(path, threads);
    }
}
