using Distill.Core.Tracking;

namespace Distill.Core.Export.Targets;

/// <summary>Records a language-model export into its run: artifacts exports/&lt;target&gt;/model.onnx and
/// model_card.json, metrics export/&lt;target&gt;/size_bytes, val_bpb, val_cross_entropy, tokens_per_second,
/// agreement (greedy next token vs the float model), max_abs_logit_diff and verified.</summary>
public static class LmExportRecorder
{
    public static void Record(ITracker tracker, LmExportReport report)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(report);
        string folder = ExportRecorder.Folder(report.Target);
        tracker.RegisterArtifact($"{folder}/{Path.GetFileName(report.ModelPath)}");
        tracker.RegisterArtifact($"{folder}/{Path.GetFileName(report.CardPath)}");
        string prefix = $"export/{report.Target}/";
        tracker.LogMetric(prefix + "size_bytes", report.SizeBytes, 0);
        tracker.LogMetric(prefix + "val_bpb", report.Validation.BitsPerByte, 0);
        tracker.LogMetric(prefix + "val_cross_entropy", report.Validation.CrossEntropy, 0);
        tracker.LogMetric(prefix + "tokens_per_second", report.Throughput.TokensPerSecond, 0);
        tracker.LogMetric(prefix + "agreement", report.Verification.Top1Agreement, 0);
        tracker.LogMetric(prefix + "max_abs_logit_diff", report.Verification.MaxAbsLogitDiff, 0);
        tracker.LogMetric(prefix + "verified", report.Verification.Passed ? 1 : 0, 0);
    }
}
