using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Distill.Core;
using Distill.Core.Export.Targets;
using Distill.Core.Text;
using Distill.Core.Tracking;

namespace Distill.Cli.Commands;

/// <summary>`distill export` of a language-model checkpoint: an ONNX file (fp32, or int8 matmul weights for int8 ONNX
/// targets) verified in ONNX Runtime on a text recipe's validation split (or every window of a text file).</summary>
internal static class LmExport
{
    /// <param name="baseDirectory">For a run's recorded recipe: the folder its relative paths are taken from.</param>
    public static int Execute(ParseResult parse, TargetProfile profile, string checkpoint, string dataPath, string output, ExportSource source,
        ITracker? tracker, string? baseDirectory = null)
    {
        LmTargetExporter.WeightsFor(profile);
        var (model, tokenizer, _) = LmCheckpoint.Load(checkpoint);
        using var _ = model;
        var (windows, _) = LmEval.Windows(dataPath, model.Options.Context, tokenizer, baseDirectory);
        using var __ = windows;
        var report = LmTargetExporter.Export(new LmExportRequest(model, tokenizer, profile, windows, output, source)
        {
            Threads = parse.GetValue(GlobalOptions.Threads) ?? 1,
        });
        if (tracker is not null)
            LmExportRecorder.Record(tracker, report);
        Print(parse, report);
        return report.Verification.Passed ? ExitCodes.Success : ExitCodes.RunFailed;
    }

    private static void Print(ParseResult parse, LmExportReport r)
    {
        var v = r.Verification;
        if (parse.GetValue(GlobalOptions.Json))
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                target = r.Target,
                model = r.ModelPath,
                model_card = r.CardPath,
                size_bytes = r.SizeBytes,
                val_cross_entropy = r.Validation.CrossEntropy,
                val_bpb = r.Validation.BitsPerByte,
                val_tokens = r.Validation.Tokens,
                tokens_per_second = r.Throughput.TokensPerSecond,
                verification = new
                {
                    runtime = v.Runtime,
                    criterion = v.Criterion,
                    value = v.Value,
                    threshold = v.Threshold,
                    max_abs_logit_diff = v.MaxAbsLogitDiff,
                    mean_abs_logit_diff = r.MeanAbsLogitDiff,
                    next_token_agreement = v.Top1Agreement,
                    positions = v.Samples,
                    onnx_checker = v.OnnxChecker,
                    passed = v.Passed,
                },
            }, new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        Console.Out.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "{0}: {1} ({2}), validation {3:F4} bits/byte on {4:N0} tokens in {5}, {6:F1} tokens/s (greedy, {7}-token window, {8} thread(s))",
            r.Target, r.ModelPath, Output.SummaryTable.Bytes(r.SizeBytes), r.Validation.BitsPerByte, r.Validation.Tokens, v.Runtime,
            r.Throughput.TokensPerSecond, r.Throughput.Window, r.Throughput.Threads));
        Console.Out.WriteLine($"verification {VerificationText.Describe(v)}");
        Console.Out.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "  max |logit diff| {0:G4}, mean {1:G4}, next-token agreement {2} on {3:N0} positions",
            v.MaxAbsLogitDiff, r.MeanAbsLogitDiff, MetricFormat.Percent(v.Top1Agreement), v.Samples));
        Console.Out.WriteLine($"model card: {r.CardPath}");
    }
}
