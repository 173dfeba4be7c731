using System.Globalization;
using Distill.Core.Tracking;
using Spectre.Console;

namespace Distill.Cli.Output;

/// <summary>The teacher-versus-student table printed at the end of `distill train`, one row per model with the
/// columns of its family (<see cref="Family"/>): for classifiers dense and non-zero parameters, file size, test
/// metrics and wall time of training, then one row per export (→ target) with its size, accuracy and batch-1 latency in
/// its runtime, and below it how much smaller the student is, by both counts, and what pruning did to it; for language
/// models parameters, size, validation bits per byte, perplexity and wall time, a row per export with its size, bits
/// per byte and tokens per second in its runtime, then the size ratio and the teacher cache.
/// A teacher ensemble is the teacher row, with a row per member below it.</summary>
public static class SummaryTable
{
    private sealed record Column(string Header, string Key, Func<double, string> Format);

    /// <summary>A model family's table: its columns (the first names the model), the metric whose presence makes a
    /// model's row, and the lines printed below the table.</summary>
    private sealed record Family(IReadOnlyList<Column> Columns, string RowMetric, Func<RunRecord, string, string[]> ExportCells,
        Func<RunRecord, IEnumerable<string?>> Lines);

    private static readonly Family Classifier = new(
        [
            new("parameters", "params", Count),
            new("non-zero", "params_nonzero", Count),
            new("size", "size_bytes", Bytes),
            new("test acc", "test_acc", MetricFormat.Percent),
            new("test loss", "test_loss", v => v.ToString("F4", CultureInfo.InvariantCulture)),
            new("time", "wall_seconds", Seconds),
        ],
        RowMetric: "params",
        ExportCells: (run, prefix) =>
        [
            "", "", Format(run, prefix + "size_bytes", Bytes), Format(run, prefix + "test_acc", MetricFormat.Percent), "",
            Format(run, prefix + "latency_ms_b1", v => v.ToString("F3", CultureInfo.InvariantCulture) + " ms @b1"),
        ],
        run => [RatioLine(run), PruningLine(run), EnergyLine(run)]);

    private static readonly Family LanguageModel = new(
        [
            new("parameters", "params", Count),
            new("size", "size_bytes", Bytes),
            new("val bits/byte", "val_bpb", v => v.ToString("F4", CultureInfo.InvariantCulture)),
            new("perplexity", "perplexity", v => v.ToString("F3", CultureInfo.InvariantCulture)),
            new("wall time", "wall_seconds", Seconds),
        ],
        RowMetric: "val_bpb",
        ExportCells: (run, prefix) =>
        [
            "", Format(run, prefix + "size_bytes", Bytes), Format(run, prefix + "val_bpb", v => v.ToString("F4", CultureInfo.InvariantCulture)), "",
            Format(run, prefix + "tokens_per_second", v => v.ToString("F1", CultureInfo.InvariantCulture) + " tok/s"),
        ],
        run => [SizeRatioLine(run), TeacherCacheLine(run), EnergyLine(run)]);

    public static void Print(RunRecord run, string storeDirectory)
    {
        var family = FamilyOf(run);
        var table = new Table().Border(TableBorder.Rounded).AddColumn("model");
        foreach (var column in family.Columns)
            table.AddColumn(new TableColumn(column.Header).RightAligned());
        foreach (var row in ModelRows(run))
            table.AddRow(row);
        AddExportRows(table, run, family);
        var console = AnsiConsole.Console;
        console.Write(table);
        foreach (var line in family.Lines(run))
        {
            if (line is not null)
                console.WriteLine(line);
        }
        console.WriteLine($"run {run.Id}  status {run.Status.ToString().ToUpperInvariant()}  store {storeDirectory}");
    }

    /// <summary>The models' rows: the model's name, then a cell per column of its family. A teacher ensemble (tag
    /// teacher.ensemble) is the teacher row, "teacher (ensemble of n)", followed by a row per member.</summary>
    public static IReadOnlyList<string[]> ModelRows(RunRecord run)
    {
        var family = FamilyOf(run);
        var rows = new List<string[]>();
        string[] Row(string name, string prefix) => [name, .. family.Columns.Select(c => Format(run, prefix + c.Key, c.Format))];
        if (run.Tags.TryGetValue("teacher.ensemble", out var text) && int.TryParse(text, CultureInfo.InvariantCulture, out int members))
        {
            rows.Add(Row($"teacher (ensemble of {members})", "teacher/"));
            for (int i = 0; i < members; i++)
                rows.Add(Row($"  member {i}", $"teacher/member{i}/"));
        }
        else if (run.Metrics.ContainsKey($"teacher/{family.RowMetric}"))
            rows.Add(Row("teacher", "teacher/"));
        if (run.Metrics.ContainsKey($"student/{family.RowMetric}"))
            rows.Add(Row("student", "student/"));
        return rows;
    }

    private static Family FamilyOf(RunRecord run) => run.Metrics.ContainsKey("student/val_bpb") ? LanguageModel : Classifier;

    /// <summary>A language model's size ratio, by parameters.</summary>
    private static string? SizeRatioLine(RunRecord run) =>
        run.Metrics.TryGetValue("teacher/params", out var tp) && run.Metrics.TryGetValue("student/params", out var sp) && sp > 0
            ? string.Format(CultureInfo.InvariantCulture, "student is {0:F1}× smaller than the teacher (parameters)", tp / sp)
            : null;

    private static string? TeacherCacheLine(RunRecord run) =>
        run.Metrics.TryGetValue("teacher_cache/bytes", out var cache) && run.Metrics.TryGetValue("teacher_cache/full_logits_bytes", out var full)
            ? $"teacher top-k cache: {Bytes(cache)} instead of {Bytes(full)} of full logits"
            : null;

    private static string Seconds(double seconds) => $"{seconds:F1} s";

    /// <summary>The training's energy with its method and, per phase, in the recipe's order (the teacher first); then
    /// each export's energy per inference with its method. Null when the run recorded none.</summary>
    public static string? EnergyLine(RunRecord run)
    {
        var m = run.Metrics;
        var parts = new List<string>();
        if (m.TryGetValue("energy/train_joules", out var total) && run.Tags.TryGetValue("energy_method", out var method))
        {
            string how = run.Tags.TryGetValue("energy_watts_per_core", out var watts) ? $"{method} at {watts} W per core" : method;
            var phases = PhaseOrder(run)
                .Where(p => m.ContainsKey($"energy/{p}/train_joules"))
                .Select(p => $"{p} {Joules(m[$"energy/{p}/train_joules"])}")
                .ToList();
            parts.Add($"training {Joules(total)} ({how}{(phases.Count > 1 ? "; " + string.Join(", ", phases) : "")})");
        }
        var exports = m.Keys
            .Where(k => k.StartsWith("export/", StringComparison.Ordinal) && k.EndsWith("/energy_mj_per_inference", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(k => (Target: k["export/".Length..^"/energy_mj_per_inference".Length], Value: m[k]))
            .Where(e => run.Tags.ContainsKey($"export/{e.Target}/energy_method"))
            .Select(e => string.Format(CultureInfo.InvariantCulture, "{0} {1:G3} mJ per inference ({2})", e.Target, e.Value, run.Tags[$"export/{e.Target}/energy_method"]))
            .ToList();
        parts.AddRange(exports);
        return parts.Count == 0 ? null : "energy: " + string.Join("; ", parts);
    }

    /// <summary>The phases' names: teacher.train.name (when the recipe trains the teacher), then stages.N.name.</summary>
    private static IEnumerable<string> PhaseOrder(RunRecord run)
    {
        if (run.Params.TryGetValue("teacher.train.name", out var teacher))
            yield return teacher;
        for (int i = 0; run.Params.TryGetValue($"stages.{i}.name", out var stage); i++)
            yield return stage;
    }

    private static string Joules(double joules) => joules >= 10_000
        ? (joules / 1000).ToString("N1", CultureInfo.InvariantCulture) + " kJ"
        : joules.ToString(joules >= 100 ? "N0" : "N1", CultureInfo.InvariantCulture) + " J";

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

    /// <summary>One row per export of the run (metrics export/&lt;target&gt;/…) with its family's cells: size, accuracy
    /// (classifiers) or bits per byte (language models) in the runtime, and batch-1 latency or tokens per second in the
    /// wall-time column.</summary>
    private static void AddExportRows(Table table, RunRecord run, Family family)
    {
        var targets = run.Metrics.Keys
            .Where(k => k.StartsWith("export/", StringComparison.Ordinal) && k.EndsWith("/size_bytes", StringComparison.Ordinal))
            .Select(k => k["export/".Length..^"/size_bytes".Length])
            .Order(StringComparer.Ordinal);
        foreach (var target in targets)
        {
            table.AddRow([$"→ {target}", .. family.ExportCells(run, $"export/{target}/")]);
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
