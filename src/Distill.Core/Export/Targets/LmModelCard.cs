using System.Text.Json.Nodes;
using Distill.Core.Export.Onnx;
using Distill.Core.Text;

namespace Distill.Core.Export.Targets;

/// <summary>The model card of a language-model ONNX export (model_card.json, and its static part in the file's
/// metadata under <see cref="ModelCard.MetadataKey"/>): signature, decoding contract, tokenizer, sizes, precision and
/// source; the full card adds what was measured and verified.</summary>
public static class LmModelCard
{
    public const string Kind = "language-model";

    public const string Decoding =
        "fixed context window, no past key/values: feed the last <= context tokens as 'tokens' [1, n] and read the logits of the last position; append the chosen token and repeat";

    public static JsonObject Static(TransformerLm model, ITokenizer tokenizer, TargetProfile profile, LmInt8Weights? int8, ExportSource source)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(source);
        var o = model.Options;
        return new JsonObject
        {
            ["schema"] = ModelCard.Schema,
            ["kind"] = Kind,
            ["target"] = new JsonObject
            {
                ["name"] = profile.Name,
                ["description"] = profile.Description,
                ["format"] = "onnx",
                ["precision"] = int8 is null ? "fp32" : "int8",
                ["profile"] = profile.Source,
            },
            ["model"] = new JsonObject
            {
                ["arch"] = "transformer-lm",
                ["layers"] = o.Layers,
                ["d_model"] = o.DModel,
                ["heads"] = o.Heads,
                ["d_ff"] = o.FeedForward,
                ["context"] = o.Context,
                ["vocab_size"] = o.VocabSize,
                ["parameters"] = model.ParameterCount,
            },
            ["tokenizer"] = JsonNode.Parse(TokenizerFile.ToJson(tokenizer)),
            ["input"] = new JsonObject
            {
                ["name"] = LmOnnxExporter.InputName,
                ["shape"] = new JsonArray(-1, -1),
                ["dims"] = $"[{LmOnnxExporter.BatchDimension}, {LmOnnxExporter.SequenceDimension}], both dynamic, 1 <= {LmOnnxExporter.SequenceDimension} <= {o.Context}",
                ["dtype"] = "int64",
                ["meaning"] = $"token ids 0..{o.VocabSize - 1} of the tokenizer below; position i of the window gets position embedding i",
            },
            ["output"] = new JsonObject
            {
                ["name"] = LmOnnxExporter.OutputName,
                ["shape"] = new JsonArray(-1, -1, o.VocabSize),
                ["dtype"] = "float32",
                ["meaning"] = "next-token logits at every position (causal: position i sees tokens 0..i); softmax gives the next-token distribution",
            },
            ["decoding"] = Decoding,
            ["quantization"] = int8 is null ? null : new JsonObject
            {
                ["weights"] = $"int{int8.Bits} symmetric (zero point 0, codes ±{(1 << (int8.Bits - 1)) - 1}), {(int8.PerChannel ? "one scale per output feature" : "one scale per matrix")}",
                ["activations"] = "uint8, scale and zero point computed per run from the activation's min/max (DynamicQuantizeLinear)",
                ["matmuls"] = int8.Head ? "attention qkv and proj, mlp_fc, mlp_proj, the tied head" : "attention qkv and proj, mlp_fc, mlp_proj; the tied head stays fp32",
                ["layout"] = "DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale * w_scale) -> Add(bias); ONNX Runtime fuses it into DynamicQuantizeMatMul",
                ["float"] = "embeddings, LayerNorms, attention scores and softmax, GELU",
            },
            ["source"] = new JsonObject
            {
                ["run_id"] = source.RunId,
                ["checkpoint"] = source.Checkpoint,
                ["distill_version"] = VersionInfo.Distill,
            },
        };
    }

    /// <summary>The full card: the static part plus size, validation figures in ONNX Runtime, tokens per second and verification.</summary>
    public static JsonObject Full(JsonObject staticPart, LmExportReport report)
    {
        ArgumentNullException.ThrowIfNull(staticPart);
        ArgumentNullException.ThrowIfNull(report);
        var card = (JsonObject)staticPart.DeepClone();
        var v = report.Verification;
        var t = report.Throughput;
        card["measured"] = new JsonObject
        {
            ["size_bytes"] = report.SizeBytes,
            ["val_cross_entropy"] = report.Validation.CrossEntropy,
            ["val_bits_per_byte"] = report.Validation.BitsPerByte,
            ["val_perplexity"] = report.Validation.Perplexity,
            ["val_tokens"] = report.Validation.Tokens,
            ["tokens_per_second"] = t.TokensPerSecond,
            ["throughput"] = new JsonObject
            {
                ["runtime"] = v.Runtime,
                ["tokens"] = t.Tokens,
                ["window"] = t.Window,
                ["threads"] = t.Threads,
                ["note"] = t.Note,
            },
        };
        card["verification"] = new JsonObject
        {
            ["runtime"] = v.Runtime,
            ["reference"] = v.Reference,
            ["criterion"] = v.Criterion,
            ["value"] = v.Value,
            ["threshold"] = v.Threshold,
            ["max_abs_logit_diff"] = v.MaxAbsLogitDiff,
            ["mean_abs_logit_diff"] = report.MeanAbsLogitDiff,
            ["mean_abs_logit_diff_limit"] = card["quantization"] is null ? null : LmTargetExporter.Int8MeanLogitTolerance,
            ["next_token_agreement"] = v.Top1Agreement,
            ["positions"] = v.Samples,
            ["onnx_checker"] = v.OnnxChecker,
            ["passed"] = v.Passed,
        };
        return card;
    }
}
