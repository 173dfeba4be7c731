using Distill.Core.Tracking;
using Distill.Core.Tracking.Mlflow;
using Microsoft.Data.Sqlite;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>Sync passes against the test server applying MLflow's rules: refused items are named, skipped, and never block the rest.</summary>
public sealed class MlflowRunSyncTests : IDisposable
{
    private static readonly MlflowRetryPolicy Fast = new() { FirstDelay = TimeSpan.FromMilliseconds(20), MaxRetries = 2 };

    private readonly FakeMlflowServer _server = new();
    private readonly TempDir _folder = new();
    private readonly RunStore _store;
    private readonly MlflowClient _client;
    private readonly MlflowRunSync _sync;

    public MlflowRunSyncTests()
    {
        _store = RunStore.Open(_folder.Path);
        _client = new MlflowClient(MlflowEndpoint.Parse(_server.Uri, "test"), Fast);
        _sync = new MlflowRunSync(_store.Directory, _client);
    }

    public void Dispose()
    {
        _sync.Dispose();
        _client.Dispose();
        _store.Dispose();
        _server.Dispose();
        _folder.Dispose();
    }

    [Fact]
    public async Task Refused_items_are_named_and_skipped_the_rest_arrives_and_nothing_is_sent_twice()
    {
        _server.MaxTagValueLength = 5000; // an MLflow server older than the 8000-character tag values
        string id;
        using (var run = _store.StartRun("exp", "run"))
        {
            id = run.RunId;
            run.LogParams(new Dictionary<string, string> { ["lr"] = "0.01", ["stages.0.epochs"] = "3" });
            run.SetTag("long", new string('n', 6000));
            run.SetTag("short", "ok");
            for (int step = 0; step < 2500; step++)
                run.LogMetric("train/loss", 1.0 / (step + 1), step);
            run.End(RunStatus.Finished);
        }
        // What an older Distill wrote: keys MLflow refuses, a metric spread over every batch and a param.
        Sql("INSERT INTO params (run_id, key, value) VALUES (@id, 'old:key', '1');", id);
        for (int step = 0; step < 2500; step += 250)
            Sql($"INSERT INTO metrics (run_id, key, step, value, timestamp) VALUES (@id, 'export:onnx/size_bytes', {step}, 1, 1);", id);

        var result = await _sync.SyncAsync(id, final: true, CancellationToken.None);

        Assert.Equal(
            [("metric", "export:onnx/size_bytes", ""), ("param", "old:key", "1"), ("tag", "long", new string('n', 6000))],
            result.Refused.Select(r => (r.Kind, r.Key, r.Value)).Order());
        Assert.Contains(result.Refused, r => r.Key == "long" && r.Reason.Contains("exceeded length limit of 5000", StringComparison.Ordinal));
        Assert.Contains(result.Refused, r => r.Key == "old:key" && r.Reason.StartsWith("Invalid parameter name: 'old:key'", StringComparison.Ordinal));
        Assert.Contains(result.RefusalLines(), line => line.StartsWith("metric 'export:onnx/size_bytes' (all its points): Invalid metric name", StringComparison.Ordinal));

        var remote = Assert.Single(_server.Runs);
        Assert.Equal("FINISHED", remote.Status);
        Assert.Equal(new Dictionary<string, string> { ["lr"] = "0.01", ["stages.0.epochs"] = "3" }, remote.Params);
        Assert.Equal("ok", remote.Tags["short"]);
        Assert.False(remote.Tags.ContainsKey("long"));
        Assert.Equal(Enumerable.Range(0, 2500).Select(s => (long)s), remote.Metrics.Select(m => m.Step).Order());
        Assert.All(remote.Metrics, m => Assert.Equal("train/loss", m.Key));
        Assert.Equal(2500, result.Metrics);
        // Each bad item costs a few halvings, not a request per item: 3 batches, 3 refused keys.
        int refusedRequests = _server.Requests.Count(r => r.Status == 400);
        Assert.True(refusedRequests is > 0 and <= 40, $"{refusedRequests} requests answered 400");

        // The next pass sends nothing: what was refused is recorded and left out.
        int before = _server.Requests.Count;
        var again = await _sync.SyncAsync(id, final: true, CancellationToken.None);
        Assert.True(again.SentNothing);
        Assert.Empty(again.Refused);
        Assert.Equal(before, _server.Requests.Count);

        // A refused tag goes again once its value changes to one the server takes.
        using (var attached = _store.AttachToRun(id))
            attached.SetTag("long", "now short");
        var third = await _sync.SyncAsync(id, final: true, CancellationToken.None);
        Assert.Equal(1, third.Tags);
        Assert.Equal("now short", Assert.Single(_server.Runs).Tags["long"]);
        Assert.Equal(200, _server.Requests.Last().Status);
    }

    [Fact]
    public async Task A_param_the_server_already_has_with_another_value_is_refused_and_the_rest_of_the_pass_arrives()
    {
        using var run = _store.StartRun("exp", "run");
        run.LogParams(new Dictionary<string, string> { ["a"] = "1" });
        run.LogMetric("loss", 0.5, 0);
        await FlushAndSyncAsync(run, 1);
        var remote = Assert.Single(_server.Runs);

        // Another client logs "b" to the same remote run first, with another value.
        await _client.LogBatchAsync(remote.Id, new MlflowBatch([], [new("b", "other")], []), CancellationToken.None);
        run.LogParams(new Dictionary<string, string> { ["b"] = "mine", ["c"] = "3" });
        run.LogMetric("loss", 0.25, 1);
        run.SetTag("t", "v");
        var result = await FlushAndSyncAsync(run, 2);

        var refused = Assert.Single(result.Refused);
        Assert.Equal(("param", "b", "mine"), (refused.Kind, refused.Key, refused.Value));
        Assert.StartsWith("Changing param values is not allowed. Param with key='b'", refused.Reason);
        Assert.Equal("other", remote.Params["b"]);
        Assert.Equal("3", remote.Params["c"]);
        Assert.Equal("v", remote.Tags["t"]);
        Assert.Equal([0L, 1L], remote.Metrics.Select(m => m.Step));
    }

    [Fact]
    public async Task A_run_deleted_on_the_server_stops_the_pass_instead_of_marking_its_items_refused()
    {
        using var run = _store.StartRun("exp", "run");
        run.LogMetric("loss", 0.5, 0);
        await FlushAndSyncAsync(run, 1);
        var remote = Assert.Single(_server.Runs);
        _server.DeleteRun(remote.Id);

        run.LogMetric("loss", 0.25, 1);
        var error = await Assert.ThrowsAsync<MlflowException>(() => FlushAndSyncAsync(run, 2));
        Assert.Contains($"run {remote.Id} is deleted there", error.Message);

        // Restored on the server, the next pass sends what the deleted run refused.
        _server.RestoreRun(remote.Id);
        var result = await FlushAndSyncAsync(run, 2);
        Assert.Empty(result.Refused);
        Assert.Equal([0L, 1L], remote.Metrics.Select(m => m.Step));
    }

    [Fact]
    public async Task A_resumed_run_is_RUNNING_again_on_the_server_and_its_params_are_not_sent_again()
    {
        string id;
        using (var run = _store.StartRun("exp", "run"))
        {
            id = run.RunId;
            run.LogParams(new Dictionary<string, string> { ["a"] = "1" });
            run.End(RunStatus.Killed, "interrupted");
        }
        await _sync.SyncAsync(id, final: true, CancellationToken.None);
        var remote = Assert.Single(_server.Runs);
        Assert.Equal("KILLED", remote.Status);

        using var resumed = _store.ResumeRun(id);
        resumed.LogParams(new Dictionary<string, string> { ["a"] = "1" });
        var result = await _sync.SyncAsync(id, final: false, CancellationToken.None);
        Assert.Equal("RUNNING", result.Status);
        Assert.Equal("RUNNING", remote.Status);
        Assert.Equal(0, result.Params);
        Assert.Single(_server.Requests, r => r.Path.EndsWith("log-batch", StringComparison.Ordinal) && r.Body.Contains("\"a\"", StringComparison.Ordinal));
    }

    /// <summary>Waits until the tracker's buffer has reached the store (it flushes every second), then makes a pass.</summary>
    private async Task<MlflowSyncResult> FlushAndSyncAsync(ITracker run, int lossPoints)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_store.GetMetricHistory(run.RunId, "loss").Count < lossPoints && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        return await _sync.SyncAsync(run.RunId, final: false, CancellationToken.None);
    }

    private void Sql(string sql, string runId)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_folder.Path, "distill.db"), Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("@id", runId);
        command.ExecuteNonQuery();
    }
}
