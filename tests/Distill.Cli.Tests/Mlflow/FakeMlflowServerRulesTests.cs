using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>The test server answers as MLflow does to input that MLflow's rules refuse (raw HTTP, no Distill code involved).</summary>
public sealed class FakeMlflowServerRulesTests : IDisposable
{
    private readonly FakeMlflowServer _server = new();
    private readonly HttpClient _http = new();

    public void Dispose()
    {
        _http.Dispose();
        _server.Dispose();
    }

    [Theory]
    [InlineData("a//b", "a/b")]
    [InlineData("a/./b/..", "a")]
    [InlineData("../a", "../a")]
    [InlineData("/../x", "/x")]
    [InlineData("//a", "//a")]
    [InlineData("///a/", "/a")]
    [InlineData("", ".")]
    [InlineData("a/b", "a/b")]
    public void Path_normalisation_is_Pythons_posixpath_normpath(string path, string normalized) =>
        Assert.Equal(normalized, MlflowInputRules.PosixNormPath(path));

    [Theory]
    [InlineData("stages[0].batch_size", "Names may only contain alphanumerics")]
    [InlineData("export:onnx", "Names may only contain alphanumerics")]
    [InlineData("a//b", "This name would resolve to 'a/b'")]
    [InlineData("a/../b", "This name would resolve to 'b'")]
    [InlineData("/lead", "This name would resolve to '/lead'")]
    [InlineData("trail/", "This name would resolve to 'trail'")]
    [InlineData("..x", "This name would resolve to '..x'")]
    [InlineData("a/./b", "This name would resolve to 'a/b'")]
    [InlineData("", "This name would resolve to '.'")]
    public async Task Names_MLflow_refuses_refuse_the_whole_batch_with_400_INVALID_PARAMETER_VALUE(string name, string message)
    {
        string run = await CreateRunAsync();
        foreach (string kind in new[] { "metrics", "params", "tags" })
        {
            var (status, body) = await LogBatchAsync(run, Item(kind, name), Item("metrics", "fine"));
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("INVALID_PARAMETER_VALUE", body["error_code"]!.GetValue<string>());
            Assert.Contains(message, body["message"]!.GetValue<string>());
        }
        var stored = Assert.Single(_server.Runs);
        Assert.Empty(stored.Metrics); // the valid metric beside the bad item was not written either
        Assert.Empty(stored.Params);
    }

    [Fact]
    public async Task Lengths_limits_and_param_changes_are_refused_as_MLflow_does()
    {
        string run = await CreateRunAsync();
        Assert.Equal(HttpStatusCode.OK, (await LogBatchAsync(run, Item("params", "p", new string('v', 6000)), Item("tags", "t", new string('é', 8000)),
            Item("metrics", new string('k', 250)))).Status);

        await AssertRefusedAsync(run, "had length 251, which exceeded length limit of 250", Item("metrics", new string('k', 251)));
        await AssertRefusedAsync(run, "had length 6001, which exceeded length limit of 6000", Item("params", "q", new string('v', 6001)));
        await AssertRefusedAsync(run, "had length 8001, which exceeded length limit of 8000", Item("tags", "t", new string('v', 8001)));
        await AssertRefusedAsync(run, "Changing param values is not allowed. Param with key='p'", Item("params", "p", "other"));
        await AssertRefusedAsync(run, "Duplicate parameter keys", Item("params", "d", "1"), Item("params", "d", "2"));
        await AssertRefusedAsync(run, "at most 1000 metrics", Enumerable.Range(0, 1001).Select(i => Item("metrics", "m")).ToArray());
        await AssertRefusedAsync(run, "at most 100 params", Enumerable.Range(0, 101).Select(i => Item("params", $"p{i}", "1")).ToArray());
        await AssertRefusedAsync(run, "at most 100 tags", Enumerable.Range(0, 101).Select(i => Item("tags", $"t{i}", "1")).ToArray());
        await AssertRefusedAsync(run, "at most 1000 metrics, params, and tags",
            [.. Enumerable.Range(0, 950).Select(i => Item("metrics", "m")), .. Enumerable.Range(0, 51).Select(i => Item("params", $"n{i}", "1"))]);

        // The same value again is fine; set-tag and runs/create apply the tag rules too.
        Assert.Equal(HttpStatusCode.OK, (await LogBatchAsync(run, Item("params", "p", new string('v', 6000)))).Status);
        var setTag = await PostAsync("runs/set-tag", new JsonObject { ["run_id"] = run, ["key"] = "bad[0]", ["value"] = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, setTag.Status);
        var create = await PostAsync("runs/create", new JsonObject
        {
            ["experiment_id"] = "0",
            ["start_time"] = 1,
            ["tags"] = new JsonArray(new JsonObject { ["key"] = "x", ["value"] = new string('v', 8001) }),
        });
        Assert.Equal(HttpStatusCode.BadRequest, create.Status);
        Assert.Single(_server.Runs);
    }

    private async Task AssertRefusedAsync(string run, string message, params (string Kind, JsonObject Item)[] items)
    {
        int metricsBefore = _server.Runs.Single().Metrics.Count;
        var (status, body) = await LogBatchAsync(run, items);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("INVALID_PARAMETER_VALUE", body["error_code"]!.GetValue<string>());
        Assert.Contains(message, body["message"]!.GetValue<string>());
        Assert.Equal(metricsBefore, _server.Runs.Single().Metrics.Count);
    }

    private async Task<string> CreateRunAsync()
    {
        var (status, body) = await PostAsync("runs/create", new JsonObject { ["experiment_id"] = "0", ["start_time"] = 1 });
        Assert.Equal(HttpStatusCode.OK, status);
        return body["run"]!["info"]!["run_id"]!.GetValue<string>();
    }

    private static (string Kind, JsonObject Item) Item(string kind, string key, string value = "1") =>
        kind == "metrics"
            ? (kind, new JsonObject { ["key"] = key, ["value"] = 1.5, ["timestamp"] = 1, ["step"] = 0 })
            : (kind, new JsonObject { ["key"] = key, ["value"] = value });

    private Task<(HttpStatusCode Status, JsonObject Body)> LogBatchAsync(string run, params (string Kind, JsonObject Item)[] items)
    {
        var request = new JsonObject { ["run_id"] = run };
        foreach (string kind in new[] { "metrics", "params", "tags" })
            request[kind] = new JsonArray(items.Where(i => i.Kind == kind).Select(i => (JsonNode)i.Item).ToArray());
        return PostAsync("runs/log-batch", request);
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> PostAsync(string method, JsonObject request)
    {
        using var content = new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync($"{_server.Uri}/api/2.0/mlflow/{method}", content);
        string text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(text)!.AsObject());
    }
}
