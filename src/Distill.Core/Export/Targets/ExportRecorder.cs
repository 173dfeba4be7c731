using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Tracking;

namespace Distill.Core.Export.Targets;

/// <summary>Exports a run's student into the run itself: files under exports/&lt;target&gt;/ and metrics
/// export/&lt;target&gt;/size_bytes, test_acc (with test_acc_low and test_acc_high, its 95 % interval, and test_samples),
/// latency_ms_b1, latency_ms_b64 (ONNX), agreement and verified.</summary>
public static class ExportRecorder
{
    /// <summary>The run's folder of an export; <paramref name="target"/> is a profile name, checked by <see cref="TargetProfile.Validate"/>.</summary>
    public static string Folder(string target) =>
        PlainName.IsValid(target) ? $"exports/{target}" : throw new ArgumentException($"not a plain target name: '{PrintableText.Escape(target)}'", nameof(target));

    public static ExportReport ExportInto(ITracker tracker, ZooModel student, QuantizedZooModel? quantized, TargetProfile profile,
        DataSplits data, string checkpointArtifact, int? calibrationBatches = null, int seed = 0, CancellationToken cancel = default, Serilog.ILogger? log = null)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(data);
        string output = Path.Combine(tracker.ArtifactDirectory, Folder(profile.Name));
        var report = TargetExporter.Export(new ExportRequest(student, quantized, profile, data.Train, data.Test, data.Normalization, output,
            new ExportSource(tracker.RunId, checkpointArtifact))
        {
            CalibrationBatches = calibrationBatches,
            Seed = seed,
            Reading = data.Reading,
            Cancel = cancel,
            Log = log,
        });
        Record(tracker, report);
        return report;
    }

    public static void Record(ITracker tracker, ExportReport report)
    {
        string folder = Folder(report.Target);
        tracker.RegisterArtifact($"{folder}/{Path.GetFileName(report.ModelPath)}");
        tracker.RegisterArtifact($"{folder}/{Path.GetFileName(report.CardPath)}");
        string prefix = $"export/{report.Target}/";
        tracker.LogMetric(prefix + "size_bytes", report.SizeBytes, 0);
        tracker.LogMetric(prefix + "test_acc", report.TestAccuracy, 0);
        tracker.LogMetric(prefix + "test_acc_low", report.Test.Low, 0);
        tracker.LogMetric(prefix + "test_acc_high", report.Test.High, 0);
        tracker.LogMetric(prefix + "test_samples", report.Test.Samples, 0);
        tracker.LogMetric(prefix + "latency_ms_b1", report.LatencyBatch1.MedianMs, 0);
        if (report.LatencyBatch64 is { } b64)
            tracker.LogMetric(prefix + "latency_ms_b64", b64.MedianMs, 0);
        tracker.LogMetric(prefix + "agreement", report.Verification.Top1Agreement, 0);
        tracker.LogMetric(prefix + "verified", report.Verification.Passed ? 1 : 0, 0);
    }
}
