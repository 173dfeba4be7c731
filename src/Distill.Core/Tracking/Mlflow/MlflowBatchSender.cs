namespace Distill.Core.Tracking.Mlflow;

/// <summary>
/// An item of a run that an MLflow server refused (HTTP 400 INVALID_PARAMETER_VALUE): a param or tag
/// with the value refused, or a metric key (Value ""), whose points are then all left out.
/// </summary>
/// <param name="Kind">"param", "tag" or "metric".</param>
/// <param name="Reason">The server's message, e.g. "Invalid metric name: 'a[0]'. Names may only contain …".</param>
public sealed record MlflowRefusal(string Kind, string Key, string Value, string Reason);

/// <summary>
/// Sends one runs/log-batch request so that a bad item cannot hold back the good ones. MLflow
/// validates a whole batch before it writes any of it, so one refused item (a name it does not
/// accept, a value too long for it, a param already logged with another value) refuses the batch.
/// The sender then sends the batch's halves in turn, down to single items: every item the server
/// accepts arrives, and each one it refuses is named with the server's reason. That costs about
/// 2·log2(n) requests per bad item; a refused metric key is left out of the rest of the pass at once.
/// </summary>
internal sealed class MlflowBatchSender(MlflowClient client)
{
    private readonly HashSet<string> _checkedRuns = new(StringComparer.Ordinal);

    /// <summary>What the server took and what it refused; <paramref name="refusedMetricKeys"/> (points not sent) grows with new refusals.</summary>
    public async Task<(MlflowBatch Accepted, List<MlflowRefusal> Refused)> SendAsync(string remoteRunId, MlflowBatch batch,
        ISet<string> refusedMetricKeys, CancellationToken cancel)
    {
        var refused = new List<MlflowRefusal>();
        var accepted = await SendOrSplitAsync(remoteRunId, batch, refusedMetricKeys, refused, cancel).ConfigureAwait(false);
        return (accepted, refused);
    }

    private async Task<MlflowBatch> SendOrSplitAsync(string remoteRunId, MlflowBatch batch, ISet<string> refusedMetricKeys,
        List<MlflowRefusal> refused, CancellationToken cancel)
    {
        if (batch.Metrics.Any(m => refusedMetricKeys.Contains(m.Key)))
            batch = batch with { Metrics = batch.Metrics.Where(m => !refusedMetricKeys.Contains(m.Key)).ToList() };
        if (batch.Count == 0)
            return MlflowBatch.Empty;
        try
        {
            await client.LogBatchAsync(remoteRunId, batch, cancel).ConfigureAwait(false);
            return batch;
        }
        catch (MlflowException e) when (e.IsInvalidParameter)
        {
            if (batch.Count > 1)
            {
                var (first, second) = batch.Halves();
                var sentFirst = await SendOrSplitAsync(remoteRunId, first, refusedMetricKeys, refused, cancel).ConfigureAwait(false);
                var sentSecond = await SendOrSplitAsync(remoteRunId, second, refusedMetricKeys, refused, cancel).ConfigureAwait(false);
                return sentFirst.Concat(sentSecond);
            }
            await ThrowIfRunRefusesEverythingAsync(remoteRunId, e, cancel).ConfigureAwait(false);
            refused.Add(Refusal(batch, e.ServerMessage ?? e.Message));
            if (batch.Metrics.Count == 1)
                refusedMetricKeys.Add(batch.Metrics[0].Key);
            return MlflowBatch.Empty;
        }
    }

    /// <summary>
    /// MLflow answers INVALID_PARAMETER_VALUE as well when the run itself no longer takes data (deleted on
    /// the server); that is no fault of the item, so it stops the pass instead of marking items refused.
    /// </summary>
    private async Task ThrowIfRunRefusesEverythingAsync(string remoteRunId, MlflowException refusal, CancellationToken cancel)
    {
        if (_checkedRuns.Contains(remoteRunId))
            return;
        var info = await client.GetRunAsync(remoteRunId, cancel).ConfigureAwait(false);
        if (info.LifecycleStage != "active")
        {
            throw new MlflowException(
                $"MLflow server {client.Endpoint}: run {remoteRunId} is {info.LifecycleStage} there and takes no more data " +
                $"(restore it on the server, e.g. mlflow runs restore); {refusal.Message}", refusal.Status, refusal.ErrorCode, refusal);
        }
        _checkedRuns.Add(remoteRunId);
    }

    private static MlflowRefusal Refusal(MlflowBatch single, string reason) =>
        single.Params.Count == 1 ? new MlflowRefusal("param", single.Params[0].Key, single.Params[0].Value, reason)
        : single.Tags.Count == 1 ? new MlflowRefusal("tag", single.Tags[0].Key, single.Tags[0].Value, reason)
        : new MlflowRefusal("metric", single.Metrics[0].Key, "", reason);
}
