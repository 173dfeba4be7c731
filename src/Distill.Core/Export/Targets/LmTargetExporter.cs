using Distill.Core.Export.Onnx;
using Distill.Core.Text;

namespace Distill.Core.Export.Targets;

/// <summary>What <see cref="LmTargetExporter.Export"/> works on.</summary>
/// <param name="Model">The float language model (a checkpoint's teacher or student).</param>
/// <param name="Validation">Windows to verify and measure on (a text recipe's validation split).</param>
/// <param name="OutputDirectory">Folder that receives model.onnx and model_card.json (replaced as a whole).</param>
public sealed record LmExportRequest(
    TransformerLm Model,
    ITokenizer Tokenizer,
    TargetProfile Profile,
    TokenWindows Validation,
    string OutputDirectory,
    ExportSource Source)
{
    /// <summary>ONNX Runtime intra-op threads for the tokens-per-second measurement.</summary>
    public int Threads { get; init; } = 1;
    /// <summary>Timed tokens of the tokens-per-second measurement.</summary>
    public int ThroughputTokens { get; init; } = 64;
}

/// <param name="Validation">Cross-entropy and bits per byte of the ONNX file on the validation windows, in ONNX Runtime.</param>
/// <param name="Verification">Top1Agreement is the greedy next-token agreement with the float model, Samples the positions compared.</param>
public sealed record LmExportReport(
    string Target,
    string ModelPath,
    string CardPath,
    long SizeBytes,
    LmEvaluation Validation,
    LmThroughputResult Throughput,
    ExportVerification Verification,
    double MeanAbsLogitDiff);

/// <summary>Exports a language model for an ONNX target: fp32 profiles give an fp32 file, int8 profiles int8 weights
/// for the large matmuls in ONNX Runtime's dynamic-quantisation form (their weight bits and per-channel setting are
/// used; activations are quantised per run, so calibration settings do not apply). The file is verified in ONNX
/// Runtime against the TorchSharp model on the validation windows, measured (bits per byte, tokens per second) and
/// moved into place with its model card.</summary>
public static class LmTargetExporter
{
    /// <summary>fp32 files must reproduce the TorchSharp logits within this.</summary>
    public const double Float32Tolerance = TargetExporter.Float32Tolerance;

    /// <summary>Int8 files: fraction of validation positions whose greedy next token is the float model's.</summary>
    public const double Int8NextTokenAgreement = 0.95;

    /// <summary>Int8 files: mean |logit − float logit| over every logit of the validation windows.</summary>
    public const double Int8MeanLogitTolerance = 0.05;

    public const int ThroughputWarmup = 8;
    public const int EvaluationBatch = 32;

    public static LmExportReport Export(LmExportRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var profile = request.Profile;
        profile.Validate();
        var int8 = WeightsFor(profile);
        if (request.Validation.Count == 0)
            throw new InvalidInputException("the validation data is empty: a language-model export is verified on validation windows");
        if (request.Tokenizer.VocabSize != request.Model.Options.VocabSize)
            throw new InvalidInputException(
                $"the tokenizer has {request.Tokenizer.VocabSize} tokens but the model's vocabulary has {request.Model.Options.VocabSize}");
        string output = Path.GetFullPath(request.OutputDirectory);
        string temp = TargetExporter.CreateTempFolder(output);
        try
        {
            var staticCard = LmModelCard.Static(request.Model, request.Tokenizer, profile, int8, request.Source);
            var options = profile.ExportOptions(new Dictionary<string, string> { [ModelCard.MetadataKey] = ModelCard.ToJson(staticCard, indented: false) });
            string modelPath = Path.Combine(temp, profile.ModelFileName);
            var info = LmOnnxExporter.Export(request.Model, options, modelPath, int8);

            string checker = TargetExporter.RunChecker(modelPath);
            OnnxLmComparison comparison;
            LmThroughputResult throughput;
            using (var runner = new OnnxLmRunner(modelPath, request.Threads))
            {
                comparison = OnnxLmEvaluator.Evaluate(runner, request.Validation, request.Tokenizer, EvaluationBatch, request.Model);
                throughput = LmThroughput.Measure(runner, request.Tokenizer, FirstWindow(request.Validation), request.ThroughputTokens,
                    ThroughputWarmup, request.Threads);
            }
            var verification = Verify(int8, comparison, checker);

            string finalModel = Path.Combine(output, profile.ModelFileName);
            string finalCard = Path.Combine(output, ModelCard.FileName);
            var report = new LmExportReport(profile.Name, finalModel, finalCard, info.SizeBytes, comparison.Evaluation, throughput, verification,
                comparison.MeanAbsLogitDiff);
            File.WriteAllText(Path.Combine(temp, ModelCard.FileName), ModelCard.ToJson(LmModelCard.Full(staticCard, report), indented: true) + "\n");
            TargetExporter.MoveIntoPlace(temp, output);
            return report;
        }
        finally
        {
            if (Directory.Exists(temp))
                Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>Null for fp32 profiles; the weight form of int8 ones. Throws <see cref="InvalidInputException"/> for
    /// profiles a language model cannot be exported to.</summary>
    public static LmInt8Weights? WeightsFor(TargetProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        string where = profile.Source ?? profile.Name;
        if (profile.Format != ExportFormat.Onnx)
            throw new InvalidInputException($"{where}: language models export to ONNX only (targets onnx-fp32, x86-vnni, x86-avx2), not {profile.Format}");
        if (profile.Precision == ExportPrecision.Float16)
            throw new InvalidInputException($"{where}: language models export as fp32 or int8 weights, not fp16");
        if (profile.Precision == ExportPrecision.Float32)
            return null;
        if (!profile.Weights.Signed || !profile.Weights.Symmetric)
            throw new InvalidInputException(
                $"{where}: int8 language-model export needs signed symmetric weights (MatMulInteger with zero point 0), but the profile's are {profile.Weights}");
        return new LmInt8Weights(profile.Weights.Bits, profile.Weights.PerChannel);
    }

    private static int[] FirstWindow(TokenWindows windows)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var (input, _) = windows.Slice(0, 1);
        return input.contiguous().data<long>().Select(t => (int)t).ToArray();
    }

    private static ExportVerification Verify(LmInt8Weights? int8, OnnxLmComparison c, string checker)
    {
        const string Runtime = "ONNX Runtime (CPU)";
        bool checkerOk = checker is "passed" || checker.StartsWith("unavailable", StringComparison.Ordinal);
        if (int8 is null)
        {
            return new ExportVerification(Runtime, "float model (TorchSharp)", "max_abs_logit_diff", c.MaxAbsLogitDiff, Float32Tolerance,
                c.MaxAbsLogitDiff, c.NextTokenAgreement, c.Positions, checker, checkerOk && c.MaxAbsLogitDiff <= Float32Tolerance);
        }
        return new ExportVerification(Runtime, "float model (TorchSharp)", "next_token_agreement", c.NextTokenAgreement, Int8NextTokenAgreement,
            c.MaxAbsLogitDiff, c.NextTokenAgreement, c.Positions, checker,
            checkerOk && c.NextTokenAgreement >= Int8NextTokenAgreement && c.MeanAbsLogitDiff <= Int8MeanLogitTolerance);
    }
}
