using Distill.Core.Models;
using System.Globalization;
using System.Text.Json.Nodes;
using Distill.Core.Export.Onnx;
using Distill.Core.Text;
using Distill.Core.Tracking;

namespace Distill.Core.Export.Targets;

/// <summary>What the export of a language model (<see cref="LanguageModelExport"/>) works on.</summary>
/// <param name="Model">The float language model (a checkpoint's teacher or student).</param>
/// <param name="Validation">Windows to verify and measure on (a text recipe's validation split).</param>
/// <param name="OutputDirectory">Folder that receives the model file and model_card.json (replaced as a whole).</param>
public sealed record LmExportRequest(
    TransformerLm Model,
    ITokenizer Tokenizer,
    TargetProfile Profile,
    TokenWindows Validation,
    string OutputDirectory,
    ExportSource Source)
{
    /// <summary>Runtime intra-op threads for the tokens-per-second measurement.</summary>
    public int Threads { get; init; } = 1;
    /// <summary>Timed tokens of the tokens-per-second measurement.</summary>
    public int ThroughputTokens { get; init; } = 64;
    /// <summary>Windows GPTQ calibrates an int4 export on (a text recipe's training split); null: the validation windows.</summary>
    public TokenWindows? Calibration { get; init; }
    /// <summary>What <see cref="Calibration"/> is, for the model card ("the training split").</summary>
    public string CalibrationSource { get; init; } = "the training split";
    /// <summary>Where a warning goes (an int4.auto target not met).</summary>
    public Serilog.ILogger? Log { get; init; }
}

/// <param name="Validation">Cross-entropy and bits per byte of the file on the validation windows, in its runtime.</param>
/// <param name="Verification">Top1Agreement is the greedy next-token agreement with the float model, Samples the positions compared.</param>
public sealed record LmExportReport(
    string Target,
    string ModelPath,
    string CardPath,
    long SizeBytes,
    LmEvaluation Validation,
    LmThroughputResult Throughput,
    ExportVerification Verification,
    double MeanAbsLogitDiff) : ExportReport(Target, ModelPath, CardPath, SizeBytes, Verification)
{
    /// <summary>val_bpb, val_cross_entropy, tokens_per_second, agreement (greedy next token vs the float model) and
    /// max_abs_logit_diff.</summary>
    public override IEnumerable<(string Name, double Value)> Metrics() =>
    [
        ("val_bpb", Validation.BitsPerByte),
        ("val_cross_entropy", Validation.CrossEntropy),
        ("tokens_per_second", Throughput.TokensPerSecond),
        ("agreement", Agreement),
        ("max_abs_logit_diff", MaxDiff),
    ];

    /// <summary>A language model's file is always run (every format that writes them has a runtime).</summary>
    private double Agreement => Verification.Top1Agreement ?? throw new InvalidOperationException("a language model's file was not run");
    private double MaxDiff => Verification.MaxAbsLogitDiff ?? throw new InvalidOperationException("a language model's file was not run");

    public override string Summary() => string.Format(CultureInfo.InvariantCulture,
        "validation {0:F4} bits/byte on {1:N0} tokens in {2}, {3:F1} tokens/s (greedy, {4}-token window, {5} thread(s))",
        Validation.BitsPerByte, Validation.Tokens, Verification.Runtime, Throughput.TokensPerSecond, Throughput.Window, Throughput.Threads);

    public override IEnumerable<string> Details() =>
    [
        string.Format(CultureInfo.InvariantCulture, "  max |logit diff| {0:G4}, mean {1:G4}, next-token agreement {2} on {3:N0} positions",
            MaxDiff, MeanAbsLogitDiff, MetricFormat.Percent(Agreement), Verification.Samples),
    ];

    public override IEnumerable<KeyValuePair<string, JsonNode?>> JsonFields() =>
    [
        new("val_cross_entropy", Validation.CrossEntropy),
        new("val_bpb", Validation.BitsPerByte),
        new("val_tokens", Validation.Tokens),
        new("tokens_per_second", Throughput.TokensPerSecond),
    ];

    public override IEnumerable<KeyValuePair<string, JsonNode?>> VerificationJsonFields() =>
    [
        new("max_abs_logit_diff", Verification.MaxAbsLogitDiff),
        new("mean_abs_logit_diff", MeanAbsLogitDiff),
        new("next_token_agreement", Verification.Top1Agreement),
        new("positions", Verification.Samples),
    ];
}

/// <summary>The export of a language model to a format with <see cref="ExportBackend.LanguageModels"/> (ONNX):
/// fp32 profiles give an fp32 file, int8 profiles int8 weights for the large matmuls in the format's form (their weight
/// bits and per-channel setting are used; activations are quantised per run, so calibration settings do not apply),
/// int4 profiles 4-bit groups (<see cref="LmInt4Quantizer"/>, by round-to-nearest or GPTQ on the calibration windows).
/// The file is verified in its runtime against the TorchSharp model on the validation windows and measured (bits per
/// byte, tokens per second).</summary>
public sealed class LanguageModelExport(LmExportRequest request) : IFamilyExport<LmExportReport>
{
    /// <summary>The model card's <c>kind</c>.</summary>
    public const string Kind = "language-model";

    public const string Decoding =
        "fixed context window, no past key/values: feed the last <= context tokens as 'tokens' [1, n] and read the logits of the last position; append the chosen token and repeat";

    public const string KvCacheDecoding =
        "KV cache: feed the prompt as 'tokens' [1, n] with empty past tensors, read the logits of the last position and keep the present tensors; then feed each chosen token alone as 'tokens' [1, 1] with the previous present tensors as the past. When past + new tokens would exceed the context, start again with empty past tensors on the window to keep (positions restart at 0)";

    /// <summary>fp32 files must reproduce the TorchSharp logits within this.</summary>
    public const double Float32Tolerance = TargetExporter.Float32Tolerance;

    /// <summary>Int8 files: fraction of validation positions whose greedy next token is the float model's.</summary>
    public const double Int8NextTokenAgreement = 0.95;

    /// <summary>Int8 files: mean |logit − float logit| over every logit of the validation windows.</summary>
    public const double Int8MeanLogitTolerance = 0.05;

    /// <summary>Int4 files: as for int8, looser: 4-bit weights move the logits more.</summary>
    public const double Int4NextTokenAgreement = 0.85;
    public const double Int4MeanLogitTolerance = 0.25;

    public const int ThroughputWarmup = 8;
    public const int EvaluationBatch = 32;

    private LmInt8Weights? _int8;
    private LmInt4Weights? _int4Settings;
    private LmInt4Export? _int4;
    private LmMixedPrecisionChoice? _auto;
    private LmExportReport? _report;

    public TargetProfile Profile => request.Profile;
    public string OutputDirectory => request.OutputDirectory;
    public CancellationToken Cancel => CancellationToken.None;

    /// <summary>Null for fp32 profiles; the weight form of int8 ones.</summary>
    /// <exception cref="InvalidInputException">A profile a language model cannot be exported to.</exception>
    public static LmInt8Weights? WeightsFor(TargetProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        string where = profile.Source ?? profile.Name;
        var lm = Backend(profile);
        if (profile.LatencyRuns is not null)
            throw new InvalidInputException($"{where}: latency_runs / --latency-runs is for classifier exports; a language model's export measures tokens per second over a generated window, not a latency median");
        if (!lm.Precisions.Contains(profile.Precision))
            throw new InvalidInputException($"{where}: language models export as {string.Join(" or ", lm.Precisions.Select(ModelCard.Precision))} weights, not {ModelCard.Precision(profile.Precision)}");
        return profile.IsInteger ? lm.Int8Weights(profile.Weights, where) : null;
    }

    /// <summary>The int4 settings of an int4 profile, after checking that its group size divides every layer of
    /// <paramref name="model"/>; null for other precisions.</summary>
    /// <exception cref="InvalidInputException">A group size that does not divide a layer's input size (named).</exception>
    public static LmInt4Weights? Int4For(TargetProfile profile, TransformerLm model)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (profile.Precision != ExportPrecision.Int4)
            return null;
        if (profile.Int4.GroupProblem(model) is { } problem)
            throw new InvalidInputException($"{profile.Source ?? profile.Name}: {problem}");
        return profile.Int4;
    }

    public void Check()
    {
        _int8 = WeightsFor(Profile);
        _int4Settings = Int4For(Profile, request.Model);
        if (request.Validation.Count == 0)
            throw new InvalidInputException("the validation data is empty: a language-model export is verified on validation windows");
        if (request.Tokenizer.VocabSize != request.Model.Options.VocabSize)
            throw new InvalidInputException(
                $"the tokenizer has {request.Tokenizer.VocabSize} tokens but the model's vocabulary has {request.Model.Options.VocabSize}");
    }

    /// <summary>Int4: quantises the layers (GPTQ calibrates on the request's calibration windows).</summary>
    public void Prepare()
    {
        if (_int4Settings is not { } int4)
            return;
        var calibration = request.Calibration ?? request.Validation;
        if (int4.Auto is { } target)
        {
            var (choice, chosen) = LmMixedPrecision.Choose(request.Model, int4, target, request.Tokenizer, request.Validation, calibration);
            _auto = choice;
            _int4 = new LmInt4Export(chosen, int4.AccuracyLevel);
            if (!choice.Met)
                request.Log?.Warning("target {Target}: int4.auto {Auto} NOT met; kept the best configuration found ({Float} float layers, {Bpb:F4} bits per byte against {FloatBpb:F4} in float)",
                    Profile.Name, target.Describe(), choice.Chosen.FloatLayers.Count, choice.Chosen.BitsPerByte, choice.FloatBitsPerByte);
            return;
        }
        _int4 = new LmInt4Export(LmInt4Quantizer.Quantize(request.Model, int4, calibration), int4.AccuracyLevel);
    }

    public JsonObject StaticCard()
    {
        var card = StaticCard(request.Model, request.Tokenizer, Profile, _int8, request.Source, CalibrationText());
        if (_auto is { } auto && card["quantization"] is JsonObject quantization)
            quantization["auto"] = AutoCard(auto);
        return card;
    }

    /// <summary>The automatic choice in the card: the target, whether it was met, the float layers, the sensitivity
    /// order and every measured step.</summary>
    private static JsonObject AutoCard(LmMixedPrecisionChoice auto) => new()
    {
        ["target"] = auto.Target.Describe(),
        ["met"] = auto.Met,
        ["float_layers"] = new JsonArray([.. auto.Chosen.FloatLayers.Select(l => JsonValue.Create(l))]),
        ["float_val_bits_per_byte"] = auto.FloatBitsPerByte,
        ["val_bits_per_byte"] = auto.Chosen.BitsPerByte,
        ["weight_bytes"] = auto.Chosen.WeightBytes,
        ["sensitivity"] = new JsonArray([.. auto.Sensitivity.Select(s => new JsonObject { ["layer"] = s.Layer, ["int4_alone_bpb_rise"] = s.Delta })]),
        ["steps"] = new JsonArray([.. auto.Steps.Select(s => new JsonObject
        {
            ["float_layers"] = s.FloatLayers.Count,
            ["val_bits_per_byte"] = s.BitsPerByte,
            ["weight_bytes"] = s.WeightBytes,
        })]),
        ["method"] = "each linear layer alone in int4 (round to nearest) ranks the layers; with max_drop all int4 first, then the most sensitive layer back to float while the measured rise over float exceeds it; with size_budget_bytes layers back to float in that order while the weights fit",
    };

    private string CalibrationText()
    {
        var windows = request.Calibration ?? request.Validation;
        long used = Math.Min(Profile.Int4.CalibrationWindows, windows.Count);
        return $"{used:N0} windows of {windows.Context} tokens spread over {(request.Calibration is null ? "the validation windows" : request.CalibrationSource)}";
    }

    /// <summary>The static card of <paramref name="model"/>'s export to <paramref name="profile"/>: signature, decoding
    /// contract, tokenizer, sizes, and the int8 weight form (<paramref name="int8"/>, null for fp32) or the int4 one (the
    /// profile's; GPTQ calibrated on <paramref name="calibration"/>).</summary>
    public static JsonObject StaticCard(TransformerLm model, ITokenizer tokenizer, TargetProfile profile, LmInt8Weights? int8, ExportSource source,
        string calibration = "")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var o = model.Options;
        var lm = Backend(profile);
        var names = lm.Signature;
        if (profile.KvCache && lm.KvCache(o) is null)
            throw new InvalidInputException($"{profile.Source ?? profile.Name}: kv_cache: {profile.Format.Title} language-model files have no KV-cache form");
        return ModelCard.Static(profile, source, Kind,
        [
            new("model", new JsonObject
            {
                ["arch"] = Architectures.NameOf(ModelArch.TransformerLm),
                ["layers"] = o.Layers,
                ["d_model"] = o.DModel,
                ["heads"] = o.Heads,
                ["d_ff"] = o.FeedForward,
                ["context"] = o.Context,
                ["vocab_size"] = o.VocabSize,
                ["parameters"] = model.ParameterCount,
            }),
            new("tokenizer", JsonNode.Parse(TokenizerFile.ToJson(tokenizer))),
            new("input", new JsonObject
            {
                ["name"] = names.Input,
                ["shape"] = new JsonArray(-1, -1),
                ["dims"] = $"[{names.BatchDimension}, {names.SequenceDimension}], both dynamic, 1 <= {names.SequenceDimension} <= {o.Context}",
                ["dtype"] = "int64",
                ["meaning"] = $"token ids 0..{o.VocabSize - 1} of the tokenizer below; position i of the window gets position embedding i",
            }),
            new("output", new JsonObject
            {
                ["name"] = names.Output,
                ["shape"] = new JsonArray(-1, -1, o.VocabSize),
                ["dtype"] = "float32",
                ["meaning"] = "next-token logits at every position (causal: position i sees tokens 0..i); softmax gives the next-token distribution",
            }),
            new("decoding", profile.KvCache ? KvCacheDecoding : Decoding),
            .. profile.KvCache ? [new KeyValuePair<string, JsonNode?>("kv_cache", lm.KvCache(o))] : Array.Empty<KeyValuePair<string, JsonNode?>>(),
            new("quantization", profile.Precision == ExportPrecision.Int4 ? lm.QuantizationCard(profile.Int4, calibration)
                : int8 is null ? null : lm.QuantizationCard(int8)),
        ]);
    }

    public ExportedModelInfo Write(ExportOptions options, string path) => Backend(Profile).Export(request.Model, options, path, _int8, _int4);

    public LmExportReport Verify(string modelPath, ExportedModelInfo info, string finalModelPath, string finalCardPath)
    {
        string checker = Profile.Format.CheckFile(modelPath);
        LmFileComparison comparison;
        LmThroughputResult throughput;
        using (var file = Backend(Profile).Open(modelPath, request.Threads))
        {
            comparison = file.Compare(request.Validation, request.Tokenizer, EvaluationBatch, request.Model);
            throughput = LmThroughput.Measure(file, request.Tokenizer, FirstWindow(request.Validation), request.ThroughputTokens,
                ThroughputWarmup, request.Threads);
        }
        _report = new LmExportReport(Profile.Name, finalModelPath, finalCardPath, info.SizeBytes, comparison.Evaluation, throughput,
            Verification(comparison, checker), comparison.MeanAbsLogitDiff);
        return _report;
    }

    /// <summary>The size, validation figures in the runtime, tokens per second and the verification.</summary>
    public JsonObject FullCard(JsonObject card, ExportedModelInfo info)
    {
        var report = _report ?? throw new InvalidOperationException("FullCard before Verify");
        var v = report.Verification;
        var t = report.Throughput;
        var measured = new JsonObject
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
        return ModelCard.Complete(card, measured, v,
        [
            new("mean_abs_logit_diff", report.MeanAbsLogitDiff),
            new("mean_abs_logit_diff_limit", card["quantization"] is null ? null : _int4 is null ? Int8MeanLogitTolerance : Int4MeanLogitTolerance),
            new("next_token_agreement", v.Top1Agreement),
            new("positions", v.Samples),
        ]);
    }

    public void Dispose()
    {
    }

    /// <summary>The language-model side of the profile's format.</summary>
    private static ILanguageModelBackend Backend(TargetProfile profile) => profile.Format.LanguageModels
        ?? throw new InvalidInputException(
            $"{profile.Source ?? profile.Name}: language models export to {ExportBackends.Titles(b => b.LanguageModels is not null)} only " +
            $"(targets onnx-fp32, x86-vnni, x86-avx2), not {profile.Format.Title}");

    private static int[] FirstWindow(TokenWindows windows)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var (input, _) = windows.Slice(0, 1);
        return input.contiguous().data<long>().Select(t => (int)t).ToArray();
    }

    private ExportVerification Verification(LmFileComparison c, string checker)
    {
        string runtime = Profile.Format.Runtime;
        bool checkerOk = checker is "passed" || checker.StartsWith("unavailable", StringComparison.Ordinal);
        if (_int8 is null && _int4 is null)
        {
            return new ExportVerification(runtime, "float model (TorchSharp)", "max_abs_logit_diff", c.MaxAbsLogitDiff, Float32Tolerance,
                c.MaxAbsLogitDiff, c.NextTokenAgreement, c.Positions, checker, checkerOk && c.MaxAbsLogitDiff <= Float32Tolerance);
        }
        var (agreement, meanDiff) = _int4 is null ? (Int8NextTokenAgreement, Int8MeanLogitTolerance) : (Int4NextTokenAgreement, Int4MeanLogitTolerance);
        return new ExportVerification(runtime, "float model (TorchSharp)", "next_token_agreement", c.NextTokenAgreement, agreement,
            c.MaxAbsLogitDiff, c.NextTokenAgreement, c.Positions, checker,
            checkerOk && c.NextTokenAgreement >= agreement && c.MeanAbsLogitDiff <= meanDiff);
    }
}
