using System.Globalization;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Output;

/// <summary>The teacher-versus-student table printed at the end of `distill train`: dense and non-zero parameters,
/// file size, test metrics and wall time of training per model, then one row per export (→ target) with its size,
/// accuracy and batch-1 latency in its runtime; below it how much smaller the student is, by both counts, and what
/// pruning did to it.</summary>
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
            .AddColumn(new TableColumn("non-zero").RightAligned())
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
                Format(run, $"{role}/params", Count),
                Format(run, $"{role}/params_nonzero", Count),
                Format(run, $"{role}/size_bytes", Bytes),
                Format(run, $"{role}/test_acc", MetricFormat.Percent),
                Format(run, $"{role}/test_loss", v => v.ToString("F4", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/wall_seconds", v => $"{v:F1} s"));
        }
        AddExportRows(table, run);
        var console = AnsiConsole.Console;
        console.Write(table);
        if (RatioLine(run) is { } ratio)
            console.WriteLine(ratio);
        if (PruningLine(run) is { } pruning)
            console.WriteLine(pruning);
        console.WriteLine($"run {run.Id}  status {run.Status.ToString().ToUpperInvariant()}  store {storeDirectory}");
    }

    /// <summary>How much smaller the student is than the teacher, by dense parameter count and, when pruning left
    /// zeros in the student, by non-zero count too.</summary>
    public static string? RatioLine(RunRecord run)
    {
        var m = run.Metrics;
        if (!m.TryGetValue("teacher/params", out var tp) || !m.TryGetValue("student/params", out var sp) || sp <= 0)
            return null;
        var line = string.Format(CultureInfo.InvariantCulture, "student vs teacher: {0:F1}× fewer parameters ({1} vs {2})", tp / sp, Count(sp), Count(tp));
        if (m.TryGetValue("student/params_nonzero", out var snz) && snz > 0 && snz < sp)
        {
            double tnz = m.GetValueOrDefault("teacher/params_nonzero", tp);
            line += string.Format(CultureInfo.InvariantCulture, ", {0:F1}× fewer non-zero ({1} vs {2})", tnz / snz, Count(snz), Count(tnz));
        }
        return line;
    }

    /// <summary>What pruning did to the student: shrunk to fewer parameters, or left sparse; null when it was not pruned.</summary>
    public static string? PruningLine(RunRecord run)
    {
        var m = run.Metrics;
        if (!m.TryGetValue("student/params", out var sp))
            return null;
        if (m.TryGetValue("student/params_before_shrink", out var before))
            return $"student shrunk: {Count(sp)} of {Count(before)} parameters (pruned channels removed)";
        if (m.TryGetValue("student/sparsity", out var sparsity) && m.TryGetValue("student/params_nonzero", out var nonZero))
            return string.Format(CultureInfo.InvariantCulture, "student pruned: {0:P2} of its pruned layers zero, {1} of {2} parameters non-zero",
                sparsity, Count(nonZero), Count(sp));
        return null;
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
                "",
                Format(run, prefix + "size_bytes", Bytes),
                Format(run, prefix + "test_acc", MetricFormat.Percent),
                "",
                Format(run, prefix + "latency_ms_b1", v => v.ToString("F3", CultureInfo.InvariantCulture) + " ms @b1"));
        }
    }

    private static string Count(double count) => count.ToString("N0", CultureInfo.InvariantCulture);

    public static string Bytes(double bytes) => bytes switch
    {
        >= 1 << 20 => (bytes / (1 << 20)).ToString("F2", CultureInfo.InvariantCulture) + " MiB",
        >= 1 << 10 => (bytes / (1 << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString("F0", CultureInfo.InvariantCulture) + " B",
    };

    private static string Format(RunRecord run, string key, Func<double, string> format) =>
        run.Metrics.TryGetValue(key, out var v) ? format(v) : "-";
}
