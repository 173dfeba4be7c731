using System.Globalization;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Output;

/// <summary>The teacher-versus-student table printed at the end of `distill train`.</summary>
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
            .AddColumn(new TableColumn("wall time").RightAligned());
        foreach (var role in new[] { "teacher", "student" })
        {
            if (!run.Metrics.ContainsKey($"{role}/params"))
                continue;
            table.AddRow(
                role,
                Format(run, $"{role}/params", v => v.ToString("N0", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/size_bytes", Bytes),
                Format(run, $"{role}/test_acc", v => v.ToString("P2", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/test_loss", v => v.ToString("F4", CultureInfo.InvariantCulture)),
                Format(run, $"{role}/wall_seconds", v => $"{v:F1} s"));
        }
        var console = AnsiConsole.Console;
        console.Write(table);
        if (run.Metrics.TryGetValue("teacher/params", out var tp) && run.Metrics.TryGetValue("student/params", out var sp) && sp > 0)
            console.WriteLine(string.Format(CultureInfo.InvariantCulture, "student is {0:F1}× smaller than the teacher (parameters)", tp / sp));
        console.WriteLine($"run {run.Id}  status {run.Status.ToString().ToUpperInvariant()}  store {storeDirectory}");
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
