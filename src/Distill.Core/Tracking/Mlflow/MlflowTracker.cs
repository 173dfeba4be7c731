using Serilog;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>
/// Decorates the local tracker of a run: every call goes to the local store first, unchanged, and a
/// background worker sends what the store holds — the run and its child runs (the phases) — to an
/// MLflow server every few seconds (<see cref="MlflowRunSync"/>), so training never waits on the
/// network. An item the server refuses is named in a warning and skipped. When the server cannot be
/// reached or refuses the credentials, the worker warns once and stops; the run goes on locally and
/// `distill runs sync` sends the rest later. Disposing makes a last pass (artifacts and the final
/// status), waiting for it at most <see cref="FinalPassTimeout"/>.
/// </summary>
public sealed class MlflowTracker : ITracker
{
    internal static readonly TimeSpan PassInterval = TimeSpan.FromSeconds(2);

    private readonly ITracker _inner;
    private readonly MlflowClient _client;
    private readonly MlflowRunSync _sync;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Task _worker;
    private volatile bool _final;
    private bool _disposed;

    private MlflowTracker(ITracker inner, string storeDirectory, MlflowClient client, ILogger log)
    {
        _inner = inner;
        _client = client;
        _log = log;
        _sync = new MlflowRunSync(storeDirectory, client);
        _worker = Task.Run(WorkAsync);
    }

    /// <summary>How long Dispose waits for the last pass; what is not sent by then waits for `runs sync`.</summary>
    public TimeSpan FinalPassTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Wraps <paramref name="inner"/>, a tracker of the store in <paramref name="storeDirectory"/>.</summary>
    public static MlflowTracker Wrap(ITracker inner, string storeDirectory, MlflowEndpoint endpoint, ILogger log, MlflowRetryPolicy? retry = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        var client = new MlflowClient(endpoint, retry ?? MlflowRetryPolicy.FromEnvironment());
        try
        {
            return new MlflowTracker(inner, storeDirectory, client, log);
        }
        catch
        {
            client.Dispose();
            inner.Dispose();
            throw;
        }
    }

    public string RunId => _inner.RunId;

    public string ArtifactDirectory => _inner.ArtifactDirectory;

    public void LogParams(IReadOnlyDictionary<string, string> parameters) => _inner.LogParams(parameters);

    public void LogMetric(string key, double value, long step) => _inner.LogMetric(key, value, step);

    /// <summary>Commits to the local store; the server gets the points on the worker's next pass.</summary>
    public void Flush() => _inner.Flush();

    public void SetTag(string key, string value) => _inner.SetTag(key, value);

    public void LogArtifact(string localPath, string? artifactPath = null) => _inner.LogArtifact(localPath, artifactPath);

    public void RegisterArtifact(string artifactPath) => _inner.RegisterArtifact(artifactPath);

    public void End(RunStatus status, string? error = null) => _inner.End(status, error);

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        // The local tracker flushes its last metrics and closes before the last pass reads them.
        _inner.Dispose();
        _final = true;
        _wake.Release();
        bool done;
        try
        {
            done = _worker.Wait(FinalPassTimeout);
        }
        catch (AggregateException)
        {
            done = true; // the worker reports its own failures; nothing escapes it but cancellation
        }
        if (!done)
        {
            _log.Warning("MLflow: the last upload to {Server} did not finish within {Seconds:0} s; send the rest with: distill runs sync {RunId} --to {Server}",
                _client.Endpoint, FinalPassTimeout.TotalSeconds, RunId, _client.Endpoint);
            _stop.Cancel();
            try
            {
                _worker.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
            }
        }
        _sync.Dispose();
        _client.Dispose();
        _stop.Dispose();
        _wake.Dispose();
    }

    private async Task WorkAsync()
    {
        bool announced = false;
        while (true)
        {
            try
            {
                await _wake.WaitAsync(PassInterval, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            bool final = _final;
            try
            {
                var results = await _sync.SyncWithChildrenAsync(RunId, final, _stop.Token).ConfigureAwait(false);
                var result = results[0];
                if (!announced)
                {
                    _log.Information("MLflow: run {RunId} is run {RemoteRunId} of experiment {ExperimentId} on {Server}",
                        RunId, result.RemoteRunId, result.ExperimentId, _client.Endpoint);
                    announced = true;
                }
                foreach (var refused in results.SelectMany(r => r.RefusalLines().Select(line => (r.RunId, line))))
                {
                    _log.Warning("MLflow: the server refused {Item} of run {RunId}; it is skipped there and kept in the local store",
                        refused.line, refused.RunId);
                }
                if (result.ArtifactsSkipped is { } why)
                    _log.Warning("MLflow: artifacts of run {RunId} not sent: {Reason}", RunId, why);
                if (final)
                {
                    _log.Information("MLflow: run {RemoteRunId} on {Server} is up to date ({Status}), with {Children} child run(s)",
                        result.RemoteRunId, _client.Endpoint, result.Status ?? "status unchanged", results.Count - 1);
                    return;
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (MlflowException e)
            {
                string what = e.IsAuthentication
                    ? "MLflow: the server refused the credentials; the run is kept in the local store only"
                    : e.IsUnreachable
                        ? "MLflow: the server cannot be reached; the run goes on and is kept in the local store"
                        : "MLflow: the server rejected a request; the run goes on and is kept in the local store";
                _log.Warning("{What}. {Error}. Send it later with: distill runs sync {RunId} --to {Server}", what, e.Message, RunId, _client.Endpoint);
                return;
            }
            catch (Exception e)
            {
                // A local problem (e.g. the store busy for longer than its timeout): try again next pass.
                _log.Warning("MLflow: sync pass for run {RunId} failed: {Error}", RunId, e.Message);
                if (final)
                    return;
            }
        }
    }
}
