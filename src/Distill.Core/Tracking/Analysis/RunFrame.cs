using System.Globalization;
using Microsoft.Data.Analysis;

namespace Distill.Core.Tracking.Analysis;

/// <summary>
/// Runs as a DataFrame: one row per run, in the given order; columns "id", "name", "experiment",
/// "status", "start_time" (ISO 8601 UTC), then one column per requested field named by
/// <see cref="RunField.ColumnName"/>: metrics as doubles, params, tags and attributes as strings;
/// null where a run lacks the key.
/// </summary>
public static class RunFrame
{
    public static readonly IReadOnlyList<string> BaseColumns = ["id", "name", "experiment", "status", "start_time"];

    public static DataFrame Build(IReadOnlyList<RunRecord> runs, IEnumerable<RunField> fields)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var columns = new List<DataFrameColumn>
        {
            new StringDataFrameColumn("id", runs.Select(r => r.Id)),
            new StringDataFrameColumn("name", runs.Select(r => r.Name)),
            new StringDataFrameColumn("experiment", runs.Select(r => r.Experiment)),
            new StringDataFrameColumn("status", runs.Select(r => RunStatusText.ToText(r.Status))),
            new StringDataFrameColumn("start_time", runs.Select(r => FormatTime(r.StartTime))),
        };
        foreach (var field in fields.Distinct())
        {
            if (field.Kind == RunFieldKind.Attribute)
                continue; // the base columns hold every attribute
            columns.Add(field.IsNumeric
                ? new DoubleDataFrameColumn(field.ColumnName, runs.Select(r => r.Metrics.TryGetValue(field.Key, out double v) ? v : (double?)null))
                : new StringDataFrameColumn(field.ColumnName, runs.Select(r => StringValue(r, field))));
        }
        return new DataFrame(columns);
    }

    /// <summary>The column holding a field in a frame built by <see cref="Build"/>.</summary>
    public static string ColumnOf(RunField field) => field.Kind == RunFieldKind.Attribute ? field.Key : field.ColumnName;

    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string? StringValue(RunRecord run, RunField field) => field.Kind switch
    {
        RunFieldKind.Param => run.Params.GetValueOrDefault(field.Key),
        RunFieldKind.Tag => run.Tags.GetValueOrDefault(field.Key),
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "not a string field"),
    };
}
