using System.Text.Encodings.Web;
using System.Text.Json;

namespace Distill.Core.Tracking.Mlflow;

public sealed record MlflowMetric(string Key, double Value, long TimestampMs, long Step);

public sealed record MlflowKeyValue(string Key, string Value);

/// <summary>
/// One runs/log-batch request. MLflow's limits per request: at most 1000 metrics, 100 params,
/// 100 tags, 1000 items in total, and 1 MB of JSON; <see cref="Split"/> cuts any amount of data
/// into batches within them, keeping the order within each kind.
/// </summary>
public sealed record MlflowBatch(IReadOnlyList<MlflowMetric> Metrics, IReadOnlyList<MlflowKeyValue> Params, IReadOnlyList<MlflowKeyValue> Tags)
{
    public const int MaxMetrics = 1000;
    public const int MaxParams = 100;
    public const int MaxTags = 100;
    public const int MaxItems = 1000;
    public const int MaxBytes = 1_000_000;

    /// <summary>Room left for the request's framing ("run_id", brackets) below <see cref="MaxBytes"/>.</summary>
    private const int ByteBudget = MaxBytes - 10_000;

    /// <summary>Per item: the JSON field names, quotes, commas and numbers around key and value.</summary>
    private const int ItemOverhead = 96;

    internal static readonly JavaScriptEncoder Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    public int Count => Metrics.Count + Params.Count + Tags.Count;

    /// <summary>Throws if the batch breaks one of MLflow's limits (the client never sends such a request).</summary>
    public void CheckLimits()
    {
        if (Metrics.Count > MaxMetrics || Params.Count > MaxParams || Tags.Count > MaxTags || Count > MaxItems)
            throw new ArgumentException($"batch of {Metrics.Count} metrics, {Params.Count} params, {Tags.Count} tags exceeds MLflow's log-batch limits");
    }

    public static readonly MlflowBatch Empty = new([], [], []);

    /// <summary>The batch cut in two, in item order (params, then tags, then metrics); the batch must have two items or more.</summary>
    public (MlflowBatch First, MlflowBatch Second) Halves()
    {
        if (Count < 2)
            throw new InvalidOperationException($"a batch of {Count} item(s) cannot be halved");
        int half = Count / 2;
        int p = Math.Min(half, Params.Count);
        int t = Math.Min(half - p, Tags.Count);
        int m = half - p - t;
        return (new MlflowBatch(Metrics.Take(m).ToList(), Params.Take(p).ToList(), Tags.Take(t).ToList()),
            new MlflowBatch(Metrics.Skip(m).ToList(), Params.Skip(p).ToList(), Tags.Skip(t).ToList()));
    }

    /// <summary>This batch and <paramref name="other"/> in one.</summary>
    public MlflowBatch Concat(MlflowBatch other) =>
        new([.. Metrics, .. other.Metrics], [.. Params, .. other.Params], [.. Tags, .. other.Tags]);

    /// <summary>Params first, then tags, then metrics; each batch within every limit.</summary>
    public static IEnumerable<MlflowBatch> Split(IReadOnlyList<MlflowMetric> metrics, IReadOnlyList<MlflowKeyValue> parameters, IReadOnlyList<MlflowKeyValue> tags)
    {
        int m = 0, p = 0, t = 0;
        while (m < metrics.Count || p < parameters.Count || t < tags.Count)
        {
            int bytes = 0;
            var batchParams = new List<MlflowKeyValue>();
            var batchTags = new List<MlflowKeyValue>();
            var batchMetrics = new List<MlflowMetric>();
            while (p < parameters.Count && batchParams.Count < MaxParams && Fits(ref bytes, Size(parameters[p]), batchParams.Count))
                batchParams.Add(parameters[p++]);
            while (t < tags.Count && batchTags.Count < MaxTags && Fits(ref bytes, Size(tags[t]), batchParams.Count + batchTags.Count))
                batchTags.Add(tags[t++]);
            int room = MaxItems - batchParams.Count - batchTags.Count;
            while (m < metrics.Count && batchMetrics.Count < Math.Min(MaxMetrics, room)
                && Fits(ref bytes, Size(metrics[m].Key) + ItemOverhead, batchParams.Count + batchTags.Count + batchMetrics.Count))
                batchMetrics.Add(metrics[m++]);
            yield return new MlflowBatch(batchMetrics, batchParams, batchTags);
        }
    }

    /// <summary>Adds an item's size if it fits; the first item of a batch always fits (a single item is within MLflow's value limits).</summary>
    private static bool Fits(ref int bytes, int size, int itemsSoFar)
    {
        if (itemsSoFar > 0 && bytes + size > ByteBudget)
            return false;
        bytes += size;
        return true;
    }

    private static int Size(MlflowKeyValue item) => Size(item.Key) + Size(item.Value) + ItemOverhead;

    private static int Size(string text) => JsonEncodedText.Encode(text, Encoder).EncodedUtf8Bytes.Length;
}
