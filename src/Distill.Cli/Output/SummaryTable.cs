using System.Globalization;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Output;

/// <summary>The teacher-versus-student table printed at the end of `distill train`: wall time of training per model,
/// then one row per export (→ target) with its size, accuracy and batch-1 latency in its runtime.</summary>
public static class SummaryTable
{
    public static void Print(RunRecord run, string storeDirectory)
    {
        if (LmSummaryTable.IsLanguageModelRun(run))
        {
            LmSummaryTable.Print(run, storeDirectory);
            return;
        }
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("model")
            .AddColumn(new TableColumn("parameters").RightAligned())
            .AddColumn(new TableColumn("size").RightAligned())
            .AddColumn(new TableColumn("test acc").RightAligned())
            .AddColumn(new TableColumn("test loss").RightAligned())
            .AddColumn(new TableColumn("time").RightAligned());
        foreach (var role in new[] { "teacher", "student" })
        {
            if (!run.Metrics.ContainsKey($"{role}/params"))
                continue;
            table.AddRow(
                role,
                Format(run, $"{role}/params", v => v.ToString("N0", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/size_bytes", Bytes),
                Format(run, $"{role}/test_acc", MetricFormat.Percent),
                Format(run, $"{role}/test_loss", v => v.ToString("F4", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/wall_seconds", v => $"{v:F1} s"));
        }
        AddExportRows(table, run);
        var console = AnsiConsole.Console;
        console.Write(table);
        if (run.Metrics.TryGetValue("teacher/params", out var tp) && run.Metrics.TryGetValue("student/params", out var sp) && sp > 0)
            console.WriteLine(string.Format(CultureInfo.InvariantCulture, "student is {0:F1}× smaller than the teacher (parameters)", tp / sp));
        console.WriteLine($"run {run.Id}  status {run.Status.ToString().ToUpperInvariant()}  store {storeDirectory}");
    }

    /// <summary>One row per export of the run (metrics export/&lt;target&gt;/…): size, accuracy in the runtime, and
    /// latency at batch 1 in the wall-time column.</summary>
    private static void AddExportRows(Table table, RunRecord run)
    {
        var targets = run.Metrics.Keys
            .Where(k => k.StartsWith("export/", StringComparison.Ordinal) && k.EndsWith("/size_bytes", StringComparison.Ordinal))
            .Select(k => k["export/".Length..^"/size_bytes".Length])
            .Order(StringComparer.Ordinal);
        foreach (var target in targets)
        {
            string prefix = $"export/{target}/";
            table.AddRow(
                $"→ {target}",
                "",
                Format(run, prefix + "size_bytes", Bytes),
                Format(run, prefix + "test_acc", MetricFormat.Percent),
                "",
                Format(run, prefix + "latency_ms_b1", v => v.ToString("F3", CultureInfo.InvariantCulture) + " ms @b1"));
        }
    }

    public static string Bytes(double bytes) => bytes switch
    {
        >= 1 << 20 => (bytes / (1 << 20)).ToString("F2", CultureInfo.InvariantCulture) + " MiB",
        >= 1 << 10 => (bytes / (1 << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString("F0", CultureInfo.InvariantCulture) + " B",
    };

    private static string Format(RunRecord run, string key, Func<double, string> format) =>
        run.Metrics.TryGetValue(key, out var v) ? format(v) : "-";
}
