using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;

namespace Distill.Core.Tests.Tracking.Analysis;

public sealed class FilterTests
{
    private static RunRecord Run(string name, double? acc, string arch, string status = "FINISHED", string? tag = null) => new(
        Guid.NewGuid().ToString("N"), "exp", name, status == "FINISHED" ? RunStatus.Finished : RunStatus.Failed,
        new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero), null, null,
        new Dictionary<string, string> { ["student.model.arch"] = arch, ["stages.0.optimizer.lr"] = arch == "cnn" ? "0.01" : "0.002" },
        acc is { } a ? new Dictionary<string, double> { ["student/test_acc"] = a } : new Dictionary<string, double>(),
        tag is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["note"] = tag },
        []);

    private static readonly RunRecord[] Runs =
    [
        Run("a", 0.95, "cnn"),
        Run("b", 0.85, "cnn", tag: "baseline run"),
        Run("c", 0.92, "mlp", status: "FAILED"),
        Run("d", null, "mlp"),
        Run("e", double.NaN, "cnn"),
    ];

    private static string[] Names(string filter, string? sort = null) =>
        RunQueryExecutor.Apply(Runs, FilterParser.Parse(filter), sort is null ? [] : RunSort.Parse(sort), null, [])
            .Runs.Select(r => r.Name).ToArray();

    [Fact]
    public void Comparisons_and_boolean_operators_select_the_right_runs()
    {
        Assert.Equal(["a", "c"], Names("metrics.student/test_acc > 0.9"));
        Assert.Equal(["a"], Names("metrics.student/test_acc > 0.9 and params.student.model.arch = 'cnn'"));
        Assert.Equal(["a", "b", "c", "e"], Names("metrics.student/test_acc >= 0.92 or params.student.model.arch = \"cnn\""));
        Assert.Equal(["a", "c"], Names("(metrics.student/test_acc > 0.9 or metrics.student/test_acc < 0.5) and metrics.student/test_acc != 0.1"));
        // and binds tighter than or
        Assert.Equal(["a", "b", "e"], Names("params.student.model.arch = 'cnn' or params.student.model.arch = 'mlp' and attributes.status = 'FAILED' and metrics.student/test_acc < 0.5"));
        Assert.Equal(["c"], Names("attributes.status = 'FAILED'"));
        Assert.Equal(["b"], Names("tags.note like '%baseline%'"));
        Assert.Equal(["c", "d"], Names("params.student.model.arch LIKE 'm_p'"));
        Assert.Equal(["a", "b", "e"], Names("params.stages.0.optimizer.lr > 0.005"));
        // The recipe path's spelling, as --set takes it, names the same param.
        Assert.Equal(["a", "b", "e"], Names("params.stages[0].optimizer.lr > 0.005"));
        Assert.Equal(["b"], Names("attributes.name = 'b'"));
        Assert.Equal(["a", "b", "c", "d", "e"], Names("attributes.start_time >= '2026-05-01' and attributes.start_time < '2026-05-02T00:00:00Z'"));
        Assert.Empty(Names("attributes.start_time > '2026-05-02'"));
        // a run without the metric matches nothing on it; NaN matches only !=
        Assert.Equal(["a", "b", "c", "e"], Names("metrics.student/test_acc != 0.3"));
        Assert.Equal(["a", "b", "c"], Names("metrics.student/test_acc < 2"));
    }

    [Fact]
    public void Sort_orders_by_fields_descending_with_missing_values_last()
    {
        // d lacks the metric and e's is NaN: both go last, in their incoming order
        Assert.Equal(["a", "c", "b", "d", "e"], Names("attributes.status != 'RUNNING'", "-metrics.student/test_acc"));
        Assert.Equal(["b", "c", "a", "d", "e"], Names("attributes.name like '%'", "metrics.student/test_acc"));
        Assert.Equal(["c", "d", "a", "b", "e"], Names("attributes.name like '%'", "-params.student.model.arch,attributes.name"));
        var none = RunQueryExecutor.Apply(Runs[..2], FilterParser.Parse("metrics.student/test_acc > 1.5"), [], null,
            [new RunField(RunFieldKind.Metric, "student/test_acc")]);
        Assert.Empty(none.Runs);
        Assert.Equal(0, none.Table.Rows.Count);
        Assert.Contains("metrics.student/test_acc", none.Table.Columns.Select(c => c.Name));
        var limited = RunQueryExecutor.Apply(Runs, null, RunSort.Parse("-metrics.student/test_acc"), 2, []);
        Assert.Equal(["a", "c"], limited.Runs.Select(r => r.Name));
        Assert.Equal(2, limited.Table.Rows.Count);
        Assert.Equal(0.92, limited.Table.Columns["metrics.student/test_acc"][1]);
        Assert.Equal("c", limited.Table.Columns["name"][1]);
    }

    [Fact]
    public void Optional_columns_are_shown_only_when_a_listed_run_has_them()
    {
        RunField[] optional = [new(RunFieldKind.Metric, "student/test_acc"), new(RunFieldKind.Metric, "student/val_bpb")];
        string[] Columns(string? filter, string? sort = null) => RunQueryExecutor.Apply(Runs, filter is null ? null : FilterParser.Parse(filter),
            sort is null ? [] : RunSort.Parse(sort), null, [], optional).Table.Columns.Select(c => c.Name).ToArray();

        // No run here is a language model: no bits-per-byte column; accuracy in its declared place.
        Assert.Equal([.. RunFrame.BaseColumns, "metrics.student/test_acc"], Columns(null));
        // d has no accuracy: listed alone, no accuracy column either.
        Assert.Equal(RunFrame.BaseColumns, Columns("attributes.name = 'd'"));
        // A column the sort names stays, even when empty.
        Assert.Equal([.. RunFrame.BaseColumns, "metrics.student/test_acc", "metrics.student/val_bpb"], Columns(null, "metrics.student/val_bpb"));
    }

    [Theory]
    [InlineData("metrics.student/test_acc > ", 28, "expected a value after '>'")]
    [InlineData("metrics.student/test_acc >  and x", 29, "expected a value after '>'")]
    [InlineData("metric.a > 1 and foo.b = 2", 18, "unknown field 'foo.b'")]
    [InlineData("metrics.a > 'high'", 13, "metrics.a is a number")]
    [InlineData("params.arch = 'cnn", 15, "never closed")]
    [InlineData("(metrics.a > 1", 15, "expected ')' to close the '(' at column 1")]
    [InlineData("metrics.a > 1 metrics.b < 2", 15, "expected 'and', 'or' or the end of the filter")]
    [InlineData("params.arch ~ 'cnn'", 13, "expected an operator after params.arch")]
    [InlineData("params.arch like 3", 18, "'like' compares with a quoted pattern")]
    [InlineData("attributes.status = 'DONE'", 21, "unknown status 'DONE'")]
    [InlineData("attributes.colour = 'red'", 1, "unknown attribute 'colour'")]
    [InlineData("metrics.a > 1e", 13, "'1e' is not a number")]
    [InlineData("   ", 4, "the filter is empty")]
    public void Syntax_errors_name_the_column_and_point_at_it(string filter, int column, string problem)
    {
        var e = Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(filter));
        Assert.Equal(column, e.Column);
        Assert.Contains(problem, e.Problem);
        var lines = e.Message.Split('\n');
        Assert.StartsWith($"column {column}: ", lines[0]);
        Assert.Equal("  " + filter, lines[1]);
        Assert.Equal(new string(' ', column + 1) + "^", lines[2]);
    }

    [Fact]
    public void Bad_sort_field_is_an_input_error()
    {
        var e = Assert.Throws<InvalidInputException>(() => RunSort.Parse("-metric.a,bogus.b"));
        Assert.Contains("unknown field 'bogus.b'", e.Message);
    }
}
