using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>The answer of runs/create and runs/get that the sync needs.</summary>
/// <param name="LifecycleStage">"active" or "deleted".</param>
public sealed record MlflowRunInfo(string RunId, string ExperimentId, string Status, string ArtifactUri, string LifecycleStage = "active");

/// <summary>
/// A client of MLflow's REST API 2.0 (/api/2.0/mlflow/...) and of its artifact proxy
/// (/api/2.0/mlflow-artifacts/artifacts/...). Network errors, HTTP 429 and 5xx are retried as
/// <see cref="MlflowRetryPolicy"/> says; any other error, or a retry budget used up, throws
/// <see cref="MlflowException"/>. Thread-safe.
/// </summary>
public sealed class MlflowClient : IDisposable
{
    private const string Api = "api/2.0/mlflow/";
    private const string ArtifactApi = "api/2.0/mlflow-artifacts/artifacts";
    private const string ProxiedArtifactScheme = "mlflow-artifacts:";

    private readonly HttpClient _http;
    private readonly MlflowRetryPolicy _retry;

    public MlflowClient(MlflowEndpoint endpoint, MlflowRetryPolicy? retry = null, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        Endpoint = endpoint;
        _retry = retry ?? new MlflowRetryPolicy();
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.BaseAddress = new Uri(endpoint.BaseUri.AbsoluteUri.TrimEnd('/') + "/");
        _http.Timeout = _retry.RequestTimeout;
        _http.DefaultRequestHeaders.Authorization = endpoint.Authorization;
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("distill", VersionInfo.Distill));
    }

    public MlflowEndpoint Endpoint { get; }

    /// <summary>The id of the experiment with this name, created if the server has none.</summary>
    public async Task<string> GetOrCreateExperimentAsync(string name, CancellationToken cancel)
    {
        if (await GetExperimentIdAsync(name, cancel).ConfigureAwait(false) is { } existing)
            return existing;
        try
        {
            using var created = await PostAsync("experiments/create", w => w.WriteString("name", name), cancel).ConfigureAwait(false);
            return ReadString(created.RootElement, "experiment_id");
        }
        catch (MlflowException e) when (e.ErrorCode == "RESOURCE_ALREADY_EXISTS")
        {
            // Another client created it between our two requests.
            return await GetExperimentIdAsync(name, cancel).ConfigureAwait(false)
                ?? throw new MlflowException($"MLflow server {Endpoint}: experiment '{name}' exists but cannot be found by name", null, null, e);
        }
    }

    public async Task<MlflowRunInfo> CreateRunAsync(string experimentId, string runName, long startTimeMs, string user,
        IReadOnlyList<MlflowKeyValue> tags, CancellationToken cancel)
    {
        using var answer = await PostAsync("runs/create", w =>
        {
            w.WriteString("experiment_id", experimentId);
            w.WriteString("user_id", user);
            w.WriteString("run_name", runName);
            w.WriteNumber("start_time", startTimeMs);
            WritePairs(w, "tags", tags);
        }, cancel).ConfigureAwait(false);
        return ReadRunInfo(answer.RootElement);
    }

    public async Task<MlflowRunInfo> GetRunAsync(string runId, CancellationToken cancel)
    {
        using var answer = await SendJsonAsync(HttpMethod.Get, $"runs/get?run_id={Uri.EscapeDataString(runId)}", null, cancel).ConfigureAwait(false);
        return ReadRunInfo(answer.RootElement);
    }

    /// <summary>One runs/log-batch request; the batch must be within MLflow's limits (<see cref="MlflowBatch.Split"/>).</summary>
    public async Task LogBatchAsync(string runId, MlflowBatch batch, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.CheckLimits();
        using var _ = await PostAsync("runs/log-batch", w =>
        {
            w.WriteString("run_id", runId);
            w.WriteStartArray("metrics");
            foreach (var metric in batch.Metrics)
            {
                w.WriteStartObject();
                w.WriteString("key", metric.Key);
                w.WritePropertyName("value");
                WriteDouble(w, metric.Value);
                w.WriteNumber("timestamp", metric.TimestampMs);
                w.WriteNumber("step", metric.Step);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WritePairs(w, "params", batch.Params);
            WritePairs(w, "tags", batch.Tags);
        }, cancel).ConfigureAwait(false);
    }

    public async Task SetTagAsync(string runId, string key, string value, CancellationToken cancel)
    {
        using var _ = await PostAsync("runs/set-tag", w =>
        {
            w.WriteString("run_id", runId);
            w.WriteString("key", key);
            w.WriteString("value", value);
        }, cancel).ConfigureAwait(false);
    }

    /// <summary>Sets the run's status; the end time is sent for every status but RUNNING.</summary>
    public async Task UpdateRunAsync(string runId, RunStatus status, long? endTimeMs, CancellationToken cancel)
    {
        using var _ = await PostAsync("runs/update", w =>
        {
            w.WriteString("run_id", runId);
            w.WriteString("status", RunStatusText.ToText(status));
            if (status != RunStatus.Running && endTimeMs is { } end)
                w.WriteNumber("end_time", end);
        }, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// The URL under which the server's artifact proxy takes a run's files, or null when the run's
    /// artifact_uri is not proxied (a server started with --no-serve-artifacts, or an artifact store
    /// such as s3:// that only the server's own clients can write).
    /// </summary>
    public string? ArtifactRoot(string artifactUri)
    {
        if (!artifactUri.StartsWith(ProxiedArtifactScheme, StringComparison.Ordinal))
            return null;
        string path = artifactUri[ProxiedArtifactScheme.Length..];
        if (path.StartsWith("//", StringComparison.Ordinal))
        {
            int slash = path.IndexOf('/', 2);
            path = slash < 0 ? "" : path[slash..];
        }
        string trimmed = path.Trim('/');
        return trimmed.Length == 0 ? ArtifactApi : $"{ArtifactApi}/{EscapePath(trimmed)}";
    }

    /// <summary>PUTs a file to the artifact proxy under the run's artifact root.</summary>
    public async Task UploadArtifactAsync(string artifactRoot, string artifactPath, string localFile, CancellationToken cancel)
    {
        string relative = $"{artifactRoot}/{EscapePath(artifactPath)}";
        using var response = await SendAsync(() =>
        {
            var stream = new FileStream(localFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var content = new StreamContent(stream);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Put, relative) { Content = content };
        }, $"PUT /{relative}", cancel).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();

    private async Task<string?> GetExperimentIdAsync(string name, CancellationToken cancel)
    {
        try
        {
            using var found = await SendJsonAsync(HttpMethod.Get, $"experiments/get-by-name?experiment_name={Uri.EscapeDataString(name)}", null, cancel)
                .ConfigureAwait(false);
            var experiment = found.RootElement.GetProperty("experiment");
            if (experiment.TryGetProperty("lifecycle_stage", out var stage) && stage.GetString() == "deleted")
            {
                throw new MlflowException(
                    $"MLflow server {Endpoint}: experiment '{name}' is deleted there; restore it (mlflow experiments restore) or use another experiment name",
                    HttpStatusCode.OK, "INVALID_STATE");
            }
            return ReadString(experiment, "experiment_id");
        }
        catch (MlflowException e) when (e.ErrorCode == "RESOURCE_DOES_NOT_EXIST")
        {
            return null;
        }
    }

    private Task<JsonDocument> PostAsync(string method, Action<Utf8JsonWriter> writeBody, CancellationToken cancel)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = MlflowBatch.Encoder }))
        {
            writer.WriteStartObject();
            writeBody(writer);
            writer.WriteEndObject();
        }
        return SendJsonAsync(HttpMethod.Post, method, buffer.ToArray(), cancel);
    }

    private async Task<JsonDocument> SendJsonAsync(HttpMethod verb, string method, byte[]? body, CancellationToken cancel)
    {
        string relative = Api + method;
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(verb, relative);
            if (body is not null)
            {
                request.Content = new ByteArrayContent(body);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            }
            return request;
        }, $"{verb} /{relative.Split('?')[0]}", cancel).ConfigureAwait(false);
        string text = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        try
        {
            return JsonDocument.Parse(text.Length == 0 ? "{}" : text);
        }
        catch (JsonException e)
        {
            throw new MlflowException($"MLflow server {Endpoint}: {verb} /{relative} answered with text that is not JSON: {Shorten(text)}", response.StatusCode, null, e);
        }
    }

    /// <summary>Sends the request (made afresh for every attempt) and returns a successful response.</summary>
    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> makeRequest, string what, CancellationToken cancel)
    {
        var waited = TimeSpan.Zero;
        for (int attempt = 0; ; attempt++)
        {
            HttpResponseMessage? response = null;
            string failure;
            TimeSpan? retryAfter = null;
            HttpStatusCode? failedStatus = null;
            try
            {
                using var request = makeRequest();
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancel).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                    return response;
                var status = response.StatusCode;
                bool transient = status == HttpStatusCode.TooManyRequests || (int)status >= 500;
                var error = await ReadErrorAsync(response, what, cancel).ConfigureAwait(false);
                if (!transient)
                    throw error;
                failure = error.Message;
                failedStatus = status;
                retryAfter = RetryAfter(response);
            }
            catch (HttpRequestException e)
            {
                failure = $"MLflow server {Endpoint} unreachable ({what}): {e.Message}";
            }
            catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
            {
                failure = $"MLflow server {Endpoint} did not answer {what} within {_retry.RequestTimeout.TotalSeconds:0.#} s";
            }
            finally
            {
                if (response is { IsSuccessStatusCode: false })
                    response.Dispose();
            }

            var delay = _retry.Delay(attempt, retryAfter);
            if (attempt >= _retry.MaxRetries || waited + delay > _retry.TotalBudget)
            {
                string tries = attempt == 0 ? "" : $" (gave up after {attempt + 1} attempts over {waited.TotalSeconds:0.#} s)";
                throw new MlflowException(failure + tries, failedStatus, null);
            }
            await Task.Delay(delay, cancel).ConfigureAwait(false);
            waited += delay;
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
            return delta;
        if (header?.Date is { } date)
            return date - DateTimeOffset.UtcNow;
        return null;
    }

    private async Task<MlflowException> ReadErrorAsync(HttpResponseMessage response, string what, CancellationToken cancel)
    {
        string body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
        string? code = null;
        string? message = null;
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (json.RootElement.TryGetProperty("error_code", out var c) && c.ValueKind == JsonValueKind.String)
                    code = c.GetString();
                if (json.RootElement.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
                    message = m.GetString();
            }
        }
        catch (JsonException)
        {
            message = body.Length == 0 ? null : Shorten(body);
        }
        int status = (int)response.StatusCode;
        string detail = code is null && message is null ? "" : $": {code}{(code is not null && message is not null ? " " : "")}{message}";
        string hint = response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => $" (wrong or missing credentials: set {MlflowEndpoint.UserVariable} and {MlflowEndpoint.PasswordVariable}, or {MlflowEndpoint.TokenVariable})",
            HttpStatusCode.Forbidden => " (the credentials are not allowed to do this)",
            _ => "",
        };
        return new MlflowException(
            $"MLflow server {Endpoint}: {what} failed with HTTP {status} {response.ReasonPhrase}{detail}{hint}", response.StatusCode, code,
            serverMessage: message);
    }

    private static MlflowRunInfo ReadRunInfo(JsonElement root)
    {
        var info = root.GetProperty("run").GetProperty("info");
        string runId = info.TryGetProperty("run_id", out var id) ? id.GetString() ?? "" : ReadString(info, "run_uuid");
        return new MlflowRunInfo(runId, ReadString(info, "experiment_id"),
            info.TryGetProperty("status", out var s) ? s.GetString() ?? "" : "",
            info.TryGetProperty("artifact_uri", out var a) ? a.GetString() ?? "" : "",
            info.TryGetProperty("lifecycle_stage", out var l) && l.GetString() is { Length: > 0 } stage ? stage : "active");
    }

    private static string ReadString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
            ? text
            : throw new MlflowException($"MLflow server answer lacks '{name}': {Shorten(element.GetRawText())}", null, "BAD_RESPONSE");

    private static void WritePairs(Utf8JsonWriter writer, string name, IReadOnlyList<MlflowKeyValue> pairs)
    {
        writer.WriteStartArray(name);
        foreach (var pair in pairs)
        {
            writer.WriteStartObject();
            writer.WriteString("key", pair.Key);
            writer.WriteString("value", pair.Value);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
    }

    /// <summary>Protobuf's JSON mapping, which MLflow's server parses: non-finite doubles are the strings "NaN", "Infinity", "-Infinity".</summary>
    private static void WriteDouble(Utf8JsonWriter writer, double value)
    {
        if (double.IsFinite(value))
            writer.WriteNumberValue(value);
        else
            writer.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
    }

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
