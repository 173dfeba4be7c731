using System.Diagnostics;
using Distill.Core;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Mlflow;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>The REST client against the loopback server: requests as documented, retries, limits, errors.</summary>
public sealed class MlflowClientTests : IDisposable
{
    private static readonly MlflowRetryPolicy Fast = new() { FirstDelay = TimeSpan.FromMilliseconds(20), MaxRetries = 4 };

    private readonly FakeMlflowServer _server = new();

    public void Dispose() => _server.Dispose();

    private MlflowClient Client(MlflowRetryPolicy? retry = null) =>
        new(MlflowEndpoint.Parse(_server.Uri, "test"), retry ?? Fast);

    [Fact]
    public async Task Creates_experiment_once_and_run_with_tags_then_logs_and_ends_it()
    {
        using var client = Client();
        string first = await client.GetOrCreateExperimentAsync("distill-tests", CancellationToken.None);
        string again = await client.GetOrCreateExperimentAsync("distill-tests", CancellationToken.None);
        Assert.Equal(first, again);
        Assert.Equal("distill-tests", _server.ExperimentName(first));
        Assert.Single(_server.Requests, r => r.Path.EndsWith("experiments/create", StringComparison.Ordinal));
        var lookup = _server.Requests.First(r => r.Path.EndsWith("get-by-name", StringComparison.Ordinal));
        Assert.Equal("GET", lookup.Method);
        Assert.Equal("?experiment_name=distill-tests", lookup.Query);

        var info = await client.CreateRunAsync(first, "r1", 1_700_000_000_000, "alice", [new("mlflow.source.type", "LOCAL")], CancellationToken.None);
        await client.LogBatchAsync(info.RunId, new MlflowBatch(
            [new("loss", 0.5, 1_700_000_000_001, 3), new("loss", double.NaN, 1_700_000_000_002, 4)],
            [new("lr", "0.01")], [new("k", "v")]), CancellationToken.None);
        await client.SetTagAsync(info.RunId, "stage", "done", CancellationToken.None);
        await client.UpdateRunAsync(info.RunId, RunStatus.Finished, 1_700_000_000_100, CancellationToken.None);

        var run = Assert.Single(_server.Runs);
        Assert.Equal(info.RunId, run.Id);
        Assert.Equal("r1", run.Name);
        Assert.Equal("alice", run.UserId);
        Assert.Equal(1_700_000_000_000, run.StartTime);
        Assert.Equal("FINISHED", run.Status);
        Assert.Equal(1_700_000_000_100, run.EndTime);
        Assert.Equal("0.01", run.Params["lr"]);
        Assert.Equal("done", run.Tags["stage"]);
        Assert.Equal("LOCAL", run.Tags["mlflow.source.type"]);
        Assert.Equal([3L, 4L], run.Metrics.Select(m => m.Step));
        Assert.True(double.IsNaN(run.Metrics[1].Value));
        Assert.Contains("\"value\":\"NaN\"", _server.Requests.Single(r => r.Path.EndsWith("log-batch", StringComparison.Ordinal)).Body);

        var fetched = await client.GetRunAsync(info.RunId, CancellationToken.None);
        Assert.Equal("FINISHED", fetched.Status);
        Assert.Equal($"mlflow-artifacts:/{first}/{info.RunId}/artifacts", fetched.ArtifactUri);
    }

    [Fact]
    public async Task Uploads_artifacts_through_the_proxy()
    {
        using var client = Client();
        string experiment = await client.GetOrCreateExperimentAsync("a", CancellationToken.None);
        var info = await client.CreateRunAsync(experiment, "r", 1, "u", [], CancellationToken.None);
        string file = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(file, [1, 2, 3, 250]);
            string root = client.ArtifactRoot(info.ArtifactUri)!;
            await client.UploadArtifactAsync(root, "models/student file.ckpt", file, CancellationToken.None);
            Assert.Equal([1, 2, 3, 250], _server.Artifact($"{experiment}/{info.RunId}/artifacts/models/student file.ckpt"));
            var put = _server.Requests.Last();
            Assert.Equal("PUT", put.Method);
            Assert.StartsWith("/api/2.0/mlflow-artifacts/artifacts/", put.Path);
        }
        finally
        {
            File.Delete(file);
        }
        Assert.Null(client.ArtifactRoot("s3://bucket/1/abc/artifacts"));
        Assert.Equal("api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts", client.ArtifactRoot("mlflow-artifacts://host:5000/1/abc/artifacts"));
    }

    [Fact]
    public async Task Retries_503_then_succeeds()
    {
        using var client = Client();
        _server.FailNextWith503(3);
        string id = await client.GetOrCreateExperimentAsync("retry", CancellationToken.None);
        Assert.Equal("retry", _server.ExperimentName(id));
        Assert.Equal([503, 503, 503, 404, 200], _server.Requests.Select(r => r.Status));
    }

    [Fact]
    public async Task Honours_Retry_After_of_429()
    {
        using var client = Client();
        _server.RateLimitNext(1, retryAfterSeconds: 1);
        var clock = Stopwatch.StartNew();
        await client.GetOrCreateExperimentAsync("limited", CancellationToken.None);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"waited only {clock.Elapsed}");
        Assert.Equal(429, _server.Requests[0].Status);
    }

    [Fact]
    public async Task Gives_up_after_the_retry_budget_with_the_status_in_the_error()
    {
        using var client = Client(Fast with { MaxRetries = 2 });
        _server.FailNextWith503(10);
        var error = await Assert.ThrowsAsync<MlflowException>(() => client.GetOrCreateExperimentAsync("down", CancellationToken.None));
        Assert.True(error.IsUnreachable);
        Assert.Contains("HTTP 503", error.Message);
        Assert.Equal(3, _server.Requests.Count);
    }

    [Fact]
    public async Task Unreachable_server_fails_fast_without_status()
    {
        using var client = new MlflowClient(MlflowEndpoint.Parse($"http://127.0.0.1:{FakeMlflowServer.FreePort()}", "test"), Fast with { MaxRetries = 1 });
        var error = await Assert.ThrowsAsync<MlflowException>(() => client.GetOrCreateExperimentAsync("x", CancellationToken.None));
        Assert.Null(error.Status);
        Assert.Contains("unreachable", error.Message);
    }

    [Fact]
    public async Task Wrong_credentials_are_not_retried_and_name_401()
    {
        _server.RequiredAuthorization = FakeMlflowServer.Basic("alice", "right");
        var endpoint = MlflowEndpoint.Parse(_server.Uri, "test") with
        {
            Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("alice:wrong"u8.ToArray())),
        };
        using var client = new MlflowClient(endpoint, Fast);
        var error = await Assert.ThrowsAsync<MlflowException>(() => client.GetOrCreateExperimentAsync("x", CancellationToken.None));
        Assert.True(error.IsAuthentication);
        Assert.Contains("HTTP 401", error.Message);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public void Batches_stay_within_every_limit_and_keep_everything_in_order()
    {
        var metrics = Enumerable.Range(0, 2500).Select(i => new MlflowMetric($"m{i % 7}", i, i, i)).ToList();
        var parameters = Enumerable.Range(0, 250).Select(i => new MlflowKeyValue($"p{i}", new string('x', 6000))).ToList();
        var tags = Enumerable.Range(0, 230).Select(i => new MlflowKeyValue($"t{i}", new string('é', 8000))).ToList();
        var batches = MlflowBatch.Split(metrics, parameters, tags).ToList();
        foreach (var batch in batches)
        {
            batch.CheckLimits();
            Assert.True(batch.Metrics.Count <= 1000 && batch.Params.Count <= 100 && batch.Tags.Count <= 100 && batch.Count <= 1000);
            long bytes = batch.Params.Concat(batch.Tags).Sum(p => System.Text.Encoding.UTF8.GetByteCount(p.Key + p.Value) + 30);
            Assert.True(bytes < 1_000_000, $"batch of about {bytes} bytes");
        }
        Assert.Equal(metrics, batches.SelectMany(b => b.Metrics));
        Assert.Equal(parameters, batches.SelectMany(b => b.Params));
        Assert.Equal(tags, batches.SelectMany(b => b.Tags));
    }

    [Theory]
    [InlineData("ftp://host")]
    [InlineData("localhost:5000")]
    [InlineData("http://")]
    [InlineData("http://host:5000/?x=1")]
    [InlineData("http://user:pw@host:5000")]
    public void Bad_uris_are_bad_input(string uri)
    {
        var error = Assert.Throws<InvalidInputException>(() => MlflowEndpoint.Parse(uri, "--tracking-uri"));
        Assert.StartsWith("--tracking-uri: ", error.Message);
    }

    [Fact]
    public void Endpoint_key_drops_trailing_slash()
    {
        Assert.Equal("http://127.0.0.1:5000/mlflow", MlflowEndpoint.Parse("http://127.0.0.1:5000/mlflow/", "x").Key);
        Assert.Equal("https://example.org", MlflowEndpoint.Parse("https://EXAMPLE.org/", "x").Key);
    }
}
