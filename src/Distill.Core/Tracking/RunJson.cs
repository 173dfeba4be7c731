using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Distill.Core.Tracking;

/// <summary>
/// A run as indented JSON: id, experiment, name, status ("RUNNING", "FINISHED", "FAILED", "KILLED"),
/// start_time and end_time (ISO 8601 UTC), parent_run_id, params, metrics (latest value per key),
/// tags and artifacts (relative paths). Keys are sorted; NaN and infinite metric values are written
/// as the strings "NaN", "Infinity" and "-Infinity".
/// </summary>
public static class RunJson
{
    public static string Serialize(RunRecord run)
    {
        ArgumentNullException.ThrowIfNull(run);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("id", run.Id);
            writer.WriteString("experiment", run.Experiment);
            writer.WriteString("name", run.Name);
            writer.WriteString("status", RunStatusText.ToText(run.Status));
            writer.WriteString("start_time", FormatTime(run.StartTime));
            WriteNullableString(writer, "end_time", run.EndTime is { } end ? FormatTime(end) : null);
            WriteNullableString(writer, "parent_run_id", run.ParentRunId);

            writer.WriteStartObject("params");
            foreach (var (key, value) in run.Params.OrderBy(p => p.Key, StringComparer.Ordinal))
                writer.WriteString(key, value);
            writer.WriteEndObject();

            writer.WriteStartObject("metrics");
            foreach (var (key, value) in run.Metrics.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                writer.WritePropertyName(key);
                WriteDouble(writer, value);
            }
            writer.WriteEndObject();

            writer.WriteStartObject("tags");
            foreach (var (key, value) in run.Tags.OrderBy(p => p.Key, StringComparer.Ordinal))
                writer.WriteString(key, value);
            writer.WriteEndObject();

            writer.WriteStartArray("artifacts");
            foreach (string path in run.Artifacts)
                writer.WriteStringValue(path);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteNullableString(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
            writer.WriteNull(name);
        else
            writer.WriteString(name, value);
    }

    private static void WriteDouble(Utf8JsonWriter writer, double value)
    {
        if (double.IsFinite(value))
            writer.WriteNumberValue(value);
        else
            writer.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
    }

    private static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
