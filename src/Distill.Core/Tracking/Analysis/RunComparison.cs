using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Analysis;

namespace Distill.Core.Tracking.Analysis;

/// <summary>
/// Runs side by side: <see cref="Params"/> has a "param" column and one string column per run with
/// the params whose values differ between the runs (missing counts as different); <see cref="Metrics"/>
/// has a "metric" column and one double column per run with every metric's latest value (null where
/// a run lacks it). Run columns are named by <see cref="Labels"/>, in the order the runs were given.
/// </summary>
public sealed record RunComparison(IReadOnlyList<RunRecord> Runs, IReadOnlyList<string> Labels, DataFrame Params, DataFrame Metrics)
{
    public static RunComparison Of(IReadOnlyList<RunRecord> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count < 2)
            throw new InvalidInputException($"compare needs at least two runs; got {runs.Count}");
        if (runs.GroupBy(r => r.Id).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new InvalidInputException($"run {twice.Key} is given more than once");
        var labels = MakeLabels(runs);

        var paramKeys = runs.SelectMany(r => r.Params.Keys).Distinct().Order(StringComparer.Ordinal)
            .Where(key => runs.Select(r => r.Params.GetValueOrDefault(key)).Distinct().Count() > 1)
            .ToList();
        var paramColumns = new List<DataFrameColumn> { new StringDataFrameColumn("param", paramKeys) };
        for (int i = 0; i < runs.Count; i++)
            paramColumns.Add(new StringDataFrameColumn(labels[i], paramKeys.Select(k => runs[i].Params.GetValueOrDefault(k))));

        var metricKeys = runs.SelectMany(r => r.Metrics.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var metricColumns = new List<DataFrameColumn> { new StringDataFrameColumn("metric", metricKeys) };
        for (int i = 0; i < runs.Count; i++)
        {
            metricColumns.Add(new DoubleDataFrameColumn(labels[i],
                metricKeys.Select(k => runs[i].Metrics.TryGetValue(k, out double v) ? v : (double?)null)));
        }
        return new RunComparison(runs, labels, new DataFrame(paramColumns), new DataFrame(metricColumns));
    }

    /// <summary>
    /// One table: kind ("param" or "metric"), key, then one column per run. Values are invariant
    /// (metrics round-trip), empty where a run lacks the key.
    /// </summary>
    public DataFrame ToTable()
    {
        var kind = new StringDataFrameColumn("kind");
        var key = new StringDataFrameColumn("key");
        var values = Labels.Select(l => new StringDataFrameColumn(l)).ToList();
        for (long row = 0; row < Params.Rows.Count; row++)
        {
            kind.Append("param");
            key.Append((string)Params.Columns["param"][row]);
            for (int i = 0; i < Labels.Count; i++)
                values[i].Append((string?)Params.Columns[Labels[i]][row]);
        }
        for (long row = 0; row < Metrics.Rows.Count; row++)
        {
            kind.Append("metric");
            key.Append((string)Metrics.Columns["metric"][row]);
            for (int i = 0; i < Labels.Count; i++)
                values[i].Append(Metrics.Columns[Labels[i]][row] is double v ? v.ToString("R", CultureInfo.InvariantCulture) : null);
        }
        return new DataFrame([kind, key, .. values]);
    }

    public void WriteCsv(TextWriter writer) => DataFrameCsv.Write(ToTable(), writer);

    /// <summary>{"runs": [{id, name, experiment, status}], "params": {key: {runId: value}}, "metrics": {key: {runId: number}}}.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("runs");
            foreach (var run in Runs)
            {
                json.WriteStartObject();
                json.WriteString("id", run.Id);
                json.WriteString("name", run.Name);
                json.WriteString("experiment", run.Experiment);
                json.WriteString("status", RunStatusText.ToText(run.Status));
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartObject("params");
            for (long row = 0; row < Params.Rows.Count; row++)
            {
                json.WriteStartObject((string)Params.Columns["param"][row]);
                for (int i = 0; i < Runs.Count; i++)
                {
                    if (Params.Columns[Labels[i]][row] is string value)
                        json.WriteString(Runs[i].Id, value);
                    else
                        json.WriteNull(Runs[i].Id);
                }
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteStartObject("metrics");
            for (long row = 0; row < Metrics.Rows.Count; row++)
            {
                json.WriteStartObject((string)Metrics.Columns["metric"][row]);
                for (int i = 0; i < Runs.Count; i++)
                {
                    json.WritePropertyName(Runs[i].Id);
                    if (Metrics.Columns[Labels[i]][row] is not double value)
                        json.WriteNullValue();
                    else if (double.IsFinite(value))
                        json.WriteNumberValue(value);
                    else
                        json.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
                }
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>"name id8", or the full id where two runs would get the same label.</summary>
    private static List<string> MakeLabels(IReadOnlyList<RunRecord> runs)
    {
        var labels = runs.Select(r => $"{r.Name} {r.Id[..8]}").ToList();
        for (int i = 0; i < labels.Count; i++)
        {
            if (labels.Count(l => l == labels[i]) > 1 || labels[i] is "param" or "metric" or "kind" or "key")
                labels[i] = runs[i].Id;
        }
        return labels;
    }
}
