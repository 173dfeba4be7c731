using Distill.Core.Tracking;

namespace Distill.Core.Export.Targets;

/// <summary>Records an export of any family into its run: artifacts exports/&lt;target&gt;/&lt;model file&gt; and
/// model_card.json, metrics export/&lt;target&gt;/size_bytes, the family's figures (<see cref="ExportReport.Metrics"/>)
/// and verified, and the family's tags (<see cref="ExportReport.Tags"/>).</summary>
public static class ExportRecorder
{
    /// <summary>The run's folder of an export; <paramref name="target"/> is a profile name, checked by <see cref="TargetProfile.Validate"/>.</summary>
    public static string Folder(string target) =>
        PlainName.IsValid(target) ? $"exports/{target}" : throw new ArgumentException($"not a plain target name: '{PrintableText.Escape(target)}'", nameof(target));

    /// <summary>Where an export to <paramref name="profile"/> goes in the tracker's run.</summary>
    public static string OutputIn(ITracker tracker, TargetProfile profile)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(profile);
        return Path.Combine(tracker.ArtifactDirectory, Folder(profile.Name));
    }

    /// <summary>Exports into the run (<paramref name="export"/>'s output is <see cref="OutputIn"/>) and records it.</summary>
    public static TReport ExportInto<TReport>(ITracker tracker, IFamilyExport<TReport> export) where TReport : ExportReport
    {
        ArgumentNullException.ThrowIfNull(tracker);
        var report = TargetExporter.Export(export);
        Record(tracker, report);
        return report;
    }

    public static void Record(ITracker tracker, ExportReport report)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(report);
        string folder = Folder(report.Target);
        tracker.RegisterArtifact($"{folder}/{Path.GetFileName(report.ModelPath)}");
        tracker.RegisterArtifact($"{folder}/{Path.GetFileName(report.CardPath)}");
        string prefix = $"export/{report.Target}/";
        tracker.LogMetric(prefix + "size_bytes", report.SizeBytes, 0);
        foreach (var (name, value) in report.Metrics())
            tracker.LogMetric(prefix + name, value, 0);
        tracker.LogMetric(prefix + "verified", report.Verification.Passed ? 1 : 0, 0);
        foreach (var (name, value) in report.Tags())
            tracker.SetTag(prefix + name, value);
    }
}
