using System.Globalization;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Output;

/// <summary>The teacher-versus-student table at the end of a language-model `distill train`.</summary>
public static class LmSummaryTable
{
    public static bool IsLanguageModelRun(RunRecord run) => run.Metrics.ContainsKey("student/val_bpb");

    public static void Print(RunRecord run, string storeDirectory)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("model")
            .AddColumn(new TableColumn("parameters").RightAligned())
            .AddColumn(new TableColumn("size").RightAligned())
            .AddColumn(new TableColumn("val bits/byte").RightAligned())
            .AddColumn(new TableColumn("perplexity").RightAligned())
            .AddColumn(new TableColumn("wall time").RightAligned());
        foreach (var role in new[] { "teacher", "student" })
        {
            if (!run.Metrics.ContainsKey($"{role}/val_bpb"))
                continue;
            table.AddRow(
                role,
                Format(run, $"{role}/params", v => v.ToString("N0", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/size_bytes", SummaryTable.Bytes),
                Format(run, $"{role}/val_bpb", v => v.ToString("F4", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/perplexity", v => v.ToString("F3", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/wall_seconds", v => $"{v:F1} s"));
        }
        var console = AnsiConsole.Console;
        console.Write(table);
        if (run.Metrics.TryGetValue("teacher/params", out var tp) && run.Metrics.TryGetValue("student/params", out var sp) && sp > 0)
            console.WriteLine(string.Format(CultureInfo.InvariantCulture, "student is {0:F1}× smaller than the teacher (parameters)", tp / sp));
        if (run.Metrics.TryGetValue("teacher_cache/bytes", out var cache) && run.Metrics.TryGetValue("teacher_cache/full_logits_bytes", out var full))
            console.WriteLine($"teacher top-k cache: {SummaryTable.Bytes(cache)} instead of {SummaryTable.Bytes(full)} of full logits");
        console.WriteLine($"run {run.Id}  status {run.Status.ToString().ToUpperInvariant()}  store {storeDirectory}");
    }

    private static string Format(RunRecord run, string key, Func<double, string> format) =>
        run.Metrics.TryGetValue(key, out var v) ? format(v) : "-";
}
