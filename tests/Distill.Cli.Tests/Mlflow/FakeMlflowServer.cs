using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>
/// A real HTTP server on loopback that implements the part of MLflow's REST API 2.0 that Distill
/// uses, as documented: JSON bodies, errors as {"error_code", "message"} (RESOURCE_ALREADY_EXISTS
/// is HTTP 400, RESOURCE_DOES_NOT_EXIST 404, INVALID_PARAMETER_VALUE 400), and the artifact proxy.
/// It applies MLflow's input rules (<see cref="MlflowInputRules"/>) as the real server does: names of
/// metrics, params and tags (characters, path normalisation, 250 characters), param values (6000) and
/// tag values (<see cref="MaxTagValueLength"/>), a param never changing its value, the log-batch
/// limits and request size, and a whole batch refused when one item breaks a rule. It records every
/// request, and has switchable faults: the next N requests answered 503, or 429 with Retry-After, and
/// credentials that must match (401 otherwise).
/// </summary>
public sealed class FakeMlflowServer : IDisposable
{
    public sealed record Request(string Method, string Path, string Query, string? Authorization, string Body, int Status);

    public sealed record MetricPoint(string Key, double Value, long Timestamp, long Step);

    public sealed class Run
    {
        public required string Id { get; init; }
        public required string ExperimentId { get; init; }
        public required string Name { get; init; }
        public required string ArtifactUri { get; init; }
        public required long StartTime { get; init; }
        public string UserId { get; init; } = "";
        public string Status { get; set; } = "RUNNING";
        public string LifecycleStage { get; set; } = "active";
        public long? EndTime { get; set; }
        public List<MetricPoint> Metrics { get; } = [];
        public Dictionary<string, string> Params { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, string> Tags { get; } = new(StringComparer.Ordinal);
    }

    private const string Api = "/api/2.0/mlflow/";
    private const string ArtifactApi = "/api/2.0/mlflow-artifacts/artifacts/";

    private readonly HttpListener _listener = new();
    private readonly Lock _lock = new();
    private readonly List<Request> _requests = [];
    private readonly Dictionary<string, string> _experiments = new() { ["0"] = "Default" };
    private readonly Dictionary<string, Run> _runs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _artifacts = new(StringComparer.Ordinal);
    private readonly Task _loop;
    private int _nextExperiment = 1;
    private int _fail503;
    private int _fail429;
    private int _retryAfterSeconds;

    public FakeMlflowServer(int? port = null)
    {
        Port = port ?? FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Uri => $"http://127.0.0.1:{Port}";

    /// <summary>Longest tag value taken: 8000 characters in current MLflow, 5000 in older servers.</summary>
    public int MaxTagValueLength { get; set; } = 8000;

    /// <summary>When set, every request must carry exactly this Authorization header value.</summary>
    public string? RequiredAuthorization { get; set; }

    public static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    public static string Basic(string user, string password) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    /// <summary>The next <paramref name="count"/> requests get HTTP 503.</summary>
    public void FailNextWith503(int count)
    {
        lock (_lock)
            _fail503 = count;
    }

    /// <summary>The next <paramref name="count"/> requests get HTTP 429 with Retry-After.</summary>
    public void RateLimitNext(int count, int retryAfterSeconds)
    {
        lock (_lock)
        {
            _fail429 = count;
            _retryAfterSeconds = retryAfterSeconds;
        }
    }

    public List<Request> Requests
    {
        get
        {
            lock (_lock)
                return [.. _requests];
        }
    }

    public List<Run> Runs
    {
        get
        {
            lock (_lock)
                return [.. _runs.Values];
        }
    }

    public string? ExperimentName(string id)
    {
        lock (_lock)
            return _experiments.GetValueOrDefault(id);
    }

    /// <summary>Deletes a run as `mlflow runs delete` does: it stays, but takes no more data.</summary>
    public void DeleteRun(string id)
    {
        lock (_lock)
            _runs[id].LifecycleStage = "deleted";
    }

    public void RestoreRun(string id)
    {
        lock (_lock)
            _runs[id].LifecycleStage = "active";
    }

    public byte[]? Artifact(string path)
    {
        lock (_lock)
            return _artifacts.GetValueOrDefault(path);
    }

    public List<string> ArtifactPaths
    {
        get
        {
            lock (_lock)
                return [.. _artifacts.Keys];
        }
    }

    public void Dispose()
    {
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (HttpListenerException)
        {
            // The managed listener re-resolves its endpoint while closing; when another test has taken the
            // port in between (seen once in CI: "Address already in use" from Close), the server is gone anyway.
        }
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                Handle(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException)
            {
                // the client went away
            }
        }
    }

    private void Handle(HttpListenerContext context)
    {
        var request = context.Request;
        byte[] body;
        using (var buffer = new MemoryStream())
        {
            request.InputStream.CopyTo(buffer);
            body = buffer.ToArray();
        }
        string path = request.Url!.AbsolutePath;
        string query = request.Url.Query;
        string? authorization = request.Headers["Authorization"];
        string bodyText = path.StartsWith(ArtifactApi, StringComparison.Ordinal) ? $"<{body.Length} bytes>" : Encoding.UTF8.GetString(body);

        int status;
        string answer;
        string? retryAfter = null;
        lock (_lock)
        {
            if (_fail503 > 0)
            {
                _fail503--;
                (status, answer) = Error(503, "TEMPORARILY_UNAVAILABLE", "the server is busy");
            }
            else if (_fail429 > 0)
            {
                _fail429--;
                retryAfter = _retryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                (status, answer) = Error(429, "REQUEST_LIMIT_EXCEEDED", "too many requests");
            }
            else if (RequiredAuthorization is not null && authorization != RequiredAuthorization)
            {
                (status, answer) = Error(401, "UNAUTHENTICATED", "You are not authenticated. Please see the documentation for details.");
            }
            else
            {
                try
                {
                    (status, answer) = Route(request.HttpMethod, path, query, body);
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or NullReferenceException)
                {
                    (status, answer) = Error(400, "MALFORMED_REQUEST", e.Message);
                }
            }
            _requests.Add(new Request(request.HttpMethod, path, query, authorization, bodyText, status));
        }

        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        if (retryAfter is not null)
            response.AddHeader("Retry-After", retryAfter);
        byte[] bytes = Encoding.UTF8.GetBytes(answer);
        response.ContentLength64 = bytes.Length;
        response.OutputStream.Write(bytes);
        response.Close();
    }

    private (int, string) Route(string method, string path, string query, byte[] body)
    {
        if (method == "PUT" && path.StartsWith(ArtifactApi, StringComparison.Ordinal))
        {
            _artifacts[System.Uri.UnescapeDataString(path[ArtifactApi.Length..])] = body;
            return (200, "{}");
        }
        if (!path.StartsWith(Api, StringComparison.Ordinal))
            return Error(404, "ENDPOINT_NOT_FOUND", $"no endpoint {path}");
        string endpoint = path[Api.Length..];
        var args = System.Web.HttpUtility.ParseQueryString(query);
        return (method, endpoint) switch
        {
            ("GET", "experiments/get-by-name") => GetExperimentByName(args["experiment_name"]),
            ("POST", "experiments/create") => CreateExperiment(Json(body)),
            ("POST", "runs/create") => CreateRun(Json(body)),
            ("POST", "runs/log-batch") => LogBatch(Json(body), body.Length),
            ("POST", "runs/update") => UpdateRun(Json(body)),
            ("POST", "runs/set-tag") => SetTag(Json(body)),
            ("GET", "runs/get") => GetRun(args["run_id"]),
            _ => Error(404, "ENDPOINT_NOT_FOUND", $"no endpoint {method} {path}"),
        };
    }

    private (int, string) GetExperimentByName(string? name)
    {
        if (string.IsNullOrEmpty(name))
            return Error(400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'experiment_name'.");
        foreach (var (id, existing) in _experiments)
        {
            if (existing == name)
                return (200, new JsonObject { ["experiment"] = ExperimentJson(id) }.ToJsonString());
        }
        return Error(404, "RESOURCE_DOES_NOT_EXIST", $"Could not find experiment with name '{name}'");
    }

    private (int, string) CreateExperiment(JsonObject body)
    {
        string name = (string)body["name"]!;
        if (_experiments.ContainsValue(name))
            return Error(400, "RESOURCE_ALREADY_EXISTS", $"Experiment '{name}' already exists.");
        string id = (_nextExperiment++).ToString(CultureInfo.InvariantCulture);
        _experiments[id] = name;
        return (200, new JsonObject { ["experiment_id"] = id }.ToJsonString());
    }

    private (int, string) CreateRun(JsonObject body)
    {
        string experimentId = (string)body["experiment_id"]!;
        if (!_experiments.ContainsKey(experimentId))
            return Error(404, "RESOURCE_DOES_NOT_EXIST", $"No Experiment with id={experimentId} exists");
        foreach (var tag in body["tags"]?.AsArray() ?? [])
        {
            if (TagProblem((string)tag!["key"]!, (string?)tag["value"] ?? "") is { } problem)
                return Invalid(problem);
        }
        string id = Guid.NewGuid().ToString("N");
        var run = new Run
        {
            Id = id,
            ExperimentId = experimentId,
            Name = (string?)body["run_name"] ?? "",
            StartTime = (long)body["start_time"]!,
            UserId = (string?)body["user_id"] ?? "",
            ArtifactUri = $"mlflow-artifacts:/{experimentId}/{id}/artifacts",
        };
        foreach (var tag in body["tags"]?.AsArray() ?? [])
            run.Tags[(string)tag!["key"]!] = (string)tag["value"]!;
        run.Tags["mlflow.runName"] = run.Name;
        _runs[id] = run;
        return (200, new JsonObject { ["run"] = RunJson(run) }.ToJsonString());
    }

    private (int, string) LogBatch(JsonObject body, int bodyBytes)
    {
        // As MLflow's handler and store: the request size, then every item, then the batch limits and
        // param changes, all before anything is written, so that one bad item refuses the whole batch.
        if (bodyBytes > MlflowInputRules.MaxBatchRequestBytes)
            return Invalid($"Batched logging API requests must be at most {MlflowInputRules.MaxBatchRequestBytes} bytes, got a request of size {bodyBytes}.");
        if (FindRun(body) is not { } run)
            return RunNotFound(body);
        if (run.LifecycleStage != "active")
            return Invalid($"The run {run.Id} must be in the 'active' state. Current state is {run.LifecycleStage}.");
        var metrics = body["metrics"]?.AsArray() ?? [];
        var parameters = body["params"]?.AsArray() ?? [];
        var tags = body["tags"]?.AsArray() ?? [];

        var points = new List<MetricPoint>();
        foreach (var metric in metrics)
        {
            string key = (string)metric!["key"]!;
            if (MlflowInputRules.NameProblem("metric", key) is { } problem)
                return Invalid(problem);
            long timestamp = (long)metric["timestamp"]!;
            if (timestamp < 0)
                return Invalid($"Got invalid timestamp {timestamp} for metric '{key}'. Timestamp must be a nonnegative long (64-bit integer) ");
            points.Add(new MetricPoint(key, MetricValue(metric["value"]!), timestamp, (long?)metric["step"] ?? 0));
        }
        var newParams = new List<(string Key, string Value)>();
        foreach (var param in parameters)
        {
            string key = (string)param!["key"]!, value = (string?)param["value"] ?? "";
            if ((MlflowInputRules.NameProblem("parameter", key) ?? MlflowInputRules.LengthProblem("Param value", MlflowInputRules.MaxParamValueLength, value)) is { } problem)
                return Invalid(problem);
            newParams.Add((key, value));
        }
        var newTags = new List<(string Key, string Value)>();
        foreach (var tag in tags)
        {
            string key = (string)tag!["key"]!, value = (string?)tag["value"] ?? "";
            if (TagProblem(key, value) is { } problem)
                return Invalid(problem);
            newTags.Add((key, value));
        }
        if (MlflowInputRules.BatchLimitProblem(metrics.Count, parameters.Count, tags.Count) is { } limit)
            return Invalid(limit);
        if (newParams.GroupBy(p => p.Key).Where(g => g.Count() > 1).Select(g => g.Key).ToList() is { Count: > 0 } duplicates)
            return Invalid($"Duplicate parameter keys have been submitted: [{string.Join(", ", duplicates.Select(d => $"'{d}'"))}]. Please ensure the request contains only one param value per param key.");
        foreach (var (key, value) in newParams)
        {
            if (run.Params.TryGetValue(key, out var old) && old != value)
                return Invalid($"Changing param values is not allowed. Param with key='{key}' was already logged with value='{old}' for run ID='{run.Id}'. Attempted logging new value '{value}'.");
        }

        run.Metrics.AddRange(points);
        foreach (var (key, value) in newParams)
            run.Params[key] = value;
        foreach (var (key, value) in newTags)
            run.Tags[key] = value;
        return (200, "{}");
    }

    private string? TagProblem(string key, string value) =>
        MlflowInputRules.NameProblem("tag", key) ?? MlflowInputRules.LengthProblem("Tag value", MaxTagValueLength, value);

    private static double MetricValue(JsonNode value) =>
        value.GetValueKind() == JsonValueKind.String
            ? (string)value! switch
            {
                "NaN" => double.NaN,
                "Infinity" => double.PositiveInfinity,
                "-Infinity" => double.NegativeInfinity,
                var other => throw new FormatException($"bad metric value '{other}'"),
            }
            : (double)value;

    private static (int, string) Invalid(string message) => Error(400, "INVALID_PARAMETER_VALUE", message);

    private (int, string) UpdateRun(JsonObject body)
    {
        if (FindRun(body) is not { } run)
            return RunNotFound(body);
        if (body["status"] is { } status)
            run.Status = (string)status!;
        if (body["end_time"] is { } end)
            run.EndTime = (long)end;
        return (200, new JsonObject { ["run_info"] = RunInfoJson(run) }.ToJsonString());
    }

    private (int, string) SetTag(JsonObject body)
    {
        if (FindRun(body) is not { } run)
            return RunNotFound(body);
        if (TagProblem((string)body["key"]!, (string?)body["value"] ?? "") is { } problem)
            return Invalid(problem);
        run.Tags[(string)body["key"]!] = (string)body["value"]!;
        return (200, "{}");
    }

    private (int, string) GetRun(string? id) =>
        id is not null && _runs.TryGetValue(id, out var run)
            ? (200, new JsonObject { ["run"] = RunJson(run) }.ToJsonString())
            : Error(404, "RESOURCE_DOES_NOT_EXIST", $"Run with id={id} not found");

    private Run? FindRun(JsonObject body) =>
        body["run_id"] is { } id && _runs.TryGetValue((string)id!, out var run) ? run : null;

    private static (int, string) RunNotFound(JsonObject body) =>
        Error(404, "RESOURCE_DOES_NOT_EXIST", $"Run with id={body["run_id"]} not found");

    private JsonObject ExperimentJson(string id) => new()
    {
        ["experiment_id"] = id,
        ["name"] = _experiments[id],
        ["artifact_location"] = $"mlflow-artifacts:/{id}",
        ["lifecycle_stage"] = "active",
    };

    private static JsonObject RunInfoJson(Run run)
    {
        var info = new JsonObject
        {
            ["run_id"] = run.Id,
            ["run_uuid"] = run.Id,
            ["run_name"] = run.Name,
            ["experiment_id"] = run.ExperimentId,
            ["user_id"] = run.UserId,
            ["status"] = run.Status,
            ["start_time"] = run.StartTime,
            ["artifact_uri"] = run.ArtifactUri,
            ["lifecycle_stage"] = run.LifecycleStage,
        };
        if (run.EndTime is { } end)
            info["end_time"] = end;
        return info;
    }

    private static JsonObject RunJson(Run run) => new()
    {
        ["info"] = RunInfoJson(run),
        ["data"] = new JsonObject
        {
            ["params"] = new JsonArray(run.Params.Select(p => (JsonNode)new JsonObject { ["key"] = p.Key, ["value"] = p.Value }).ToArray()),
            ["tags"] = new JsonArray(run.Tags.Select(p => (JsonNode)new JsonObject { ["key"] = p.Key, ["value"] = p.Value }).ToArray()),
        },
    };

    private static JsonObject Json(byte[] body) =>
        JsonNode.Parse(body)?.AsObject() ?? throw new JsonException("empty body");

    private static (int, string) Error(int status, string code, string message) =>
        (status, new JsonObject { ["error_code"] = code, ["message"] = message }.ToJsonString());
}
