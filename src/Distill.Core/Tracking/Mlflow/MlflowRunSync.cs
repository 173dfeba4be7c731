using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>
/// Sends to an MLflow server what the local store has and the server has not yet got, for one run at
/// a time. What was sent is recorded in the store (tables mlflow_runs and mlflow_sent) after every
/// successful request, so that passes can be repeated at any time — by the live run every few
/// seconds, or by `distill runs sync` later — and never send anything twice. An item the server
/// refuses (<see cref="MlflowBatchSender"/>) is recorded in mlflow_skipped and not sent again (a
/// param or tag until its value changes), so that it holds back neither the rest nor later passes.
/// </summary>
public sealed class MlflowRunSync : IDisposable
{
    private const int MetricChunk = 20_000;

    private readonly SqliteConnection _connection;
    private readonly MlflowClient _client;
    private readonly string _server;
    private readonly string _storeDirectory;
    private readonly MlflowBatchSender _sender;

    private sealed record LocalRun(string Id, string Name, string Experiment, RunStatus Status, long StartMs, long? EndMs, string? ParentId);

    private sealed record Mapping(string RemoteRunId, string ExperimentId, string ArtifactUri, long MetricsSent, string StatusSent);

    /// <param name="storeDirectory">The run store's folder (it must exist: open it with <see cref="RunStore.Open"/> first).</param>
    public MlflowRunSync(string storeDirectory, MlflowClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _sender = new MlflowBatchSender(client);
        _server = client.Endpoint.Key;
        _storeDirectory = Path.GetFullPath(storeDirectory);
        string databasePath = Path.Combine(storeDirectory, StoreSchema.DatabaseFileName);
        _connection = StoreSchema.Open(databasePath);
        if (StoreSchema.IsReadOnly(_connection))
        {
            _connection.Dispose();
            throw new InvalidInputException(StoreSchema.ReadOnlyMessage(databasePath, "record what it sends to MLflow"));
        }
    }

    /// <summary>
    /// One pass for a run. With <paramref name="final"/>, artifacts and the run's status are sent too
    /// (a live run passes final only once it has ended, as its artifacts change while it trains).
    /// </summary>
    public async Task<MlflowSyncResult> SyncAsync(string runId, bool final, CancellationToken cancel)
    {
        var run = ReadRun(runId);
        bool created = false;
        var mapping = ReadMapping(run.Id);
        if (mapping is null)
        {
            mapping = await CreateRemoteRunAsync(run, cancel).ConfigureAwait(false);
            created = true;
        }
        string? statusSent = null;
        if (run.Status == RunStatus.Running && mapping.StatusSent != RunStatusText.ToText(RunStatus.Running))
            statusSent = await SendStatusAsync(run, mapping, cancel).ConfigureAwait(false); // a resumed run is running again

        var sentParams = ReadSent(run.Id, "param");
        var sentTags = ReadSent(run.Id, "tag");
        var refusedParams = ReadRefused(run.Id, "param");
        var refusedTags = ReadRefused(run.Id, "tag");
        var refusedMetricKeys = ReadRefused(run.Id, "metric").Keys.ToHashSet(StringComparer.Ordinal);
        var parameters = ReadPairs("SELECT key, value FROM params WHERE run_id = @run ORDER BY key;", run.Id)
            .Where(p => sentParams.GetValueOrDefault(p.Key) != p.Value && refusedParams.GetValueOrDefault(p.Key) != p.Value).ToList();
        var tags = MlflowSystemTags.FromLocal(ReadPairs("SELECT key, value FROM tags WHERE run_id = @run ORDER BY key;", run.Id)
                .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal))
            .Where(t => sentTags.GetValueOrDefault(t.Key) != t.Value && refusedTags.GetValueOrDefault(t.Key) != t.Value).ToList();

        int metricsSent = 0, paramsSent = 0, tagsSent = 0;
        var refusals = new List<MlflowRefusal>();
        long metricOffset = mapping.MetricsSent;
        while (true)
        {
            var metrics = ReadMetrics(run.Id, metricOffset, MetricChunk);
            foreach (var batch in MlflowBatch.Split(metrics, parameters, tags))
            {
                var (accepted, refused) = await _sender.SendAsync(mapping.RemoteRunId, batch, refusedMetricKeys, cancel).ConfigureAwait(false);
                RecordBatch(run.Id, batch.Metrics.Count, accepted, refused);
                metricsSent += accepted.Metrics.Count;
                paramsSent += accepted.Params.Count;
                tagsSent += accepted.Tags.Count;
                refusals.AddRange(refused);
            }
            parameters = [];
            tags = [];
            metricOffset += metrics.Count;
            if (metrics.Count < MetricChunk)
                break;
        }

        int artifactsSent = 0;
        string? artifactsSkipped = null;
        if (final)
        {
            (artifactsSent, artifactsSkipped) = await SendArtifactsAsync(run, mapping, cancel).ConfigureAwait(false);
            if (RunStatusText.ToText(run.Status) != (statusSent ?? mapping.StatusSent))
                statusSent = await SendStatusAsync(run, mapping, cancel).ConfigureAwait(false);
        }
        return new MlflowSyncResult(run.Id, mapping.RemoteRunId, mapping.ExperimentId, created, metricsSent, paramsSent, tagsSent,
            artifactsSent, statusSent, artifactsSkipped)
        {
            Refused = refusals,
        };
    }

    /// <summary>
    /// A pass for a run and then for each of its child runs (the phases of a recipe run), oldest first; a
    /// child that has ended gets its final pass (status, artifacts) even while the run goes on.
    /// </summary>
    public async Task<IReadOnlyList<MlflowSyncResult>> SyncWithChildrenAsync(string runId, bool final, CancellationToken cancel)
    {
        var results = new List<MlflowSyncResult> { await SyncAsync(runId, final, cancel).ConfigureAwait(false) };
        foreach (var (childId, status) in ReadChildren(results[0].RunId))
            results.Add(await SyncAsync(childId, final || status != RunStatus.Running, cancel).ConfigureAwait(false));
        return results;
    }

    /// <summary>The remote run id of a local run on this server, or null if it has not been created there.</summary>
    public string? RemoteRunId(string runId) => ReadMapping(runId)?.RemoteRunId;

    public void Dispose() => _connection.Dispose();

    private async Task<Mapping> CreateRemoteRunAsync(LocalRun run, CancellationToken cancel)
    {
        string? remoteParent = null;
        if (run.ParentId is not null)
            remoteParent = ReadMapping(run.ParentId)?.RemoteRunId ?? (await CreateRemoteRunAsync(ReadRun(run.ParentId), cancel).ConfigureAwait(false)).RemoteRunId;

        string experimentId = await _client.GetOrCreateExperimentAsync(run.Experiment, cancel).ConfigureAwait(false);
        string user = MlflowSystemTags.CurrentUser;
        var tags = MlflowSystemTags.AtCreation(run.Id, run.Name, user, remoteParent);
        var info = await _client.CreateRunAsync(experimentId, run.Name, run.StartMs, user, tags, cancel).ConfigureAwait(false);

        using var transaction = _connection.BeginTransaction();
        Sql.Execute(_connection,
            """
            INSERT INTO mlflow_runs (run_id, server, remote_run_id, experiment_id, artifact_uri, metrics_sent, status_sent)
            VALUES (@run, @server, @remote, @experiment, @artifacts, 0, 'RUNNING');
            """,
            ("@run", run.Id), ("@server", _server), ("@remote", info.RunId), ("@experiment", experimentId), ("@artifacts", info.ArtifactUri));
        foreach (var tag in tags)
            RecordSent(run.Id, "tag", tag.Key, tag.Value);
        transaction.Commit();
        return new Mapping(info.RunId, experimentId, info.ArtifactUri, 0, "RUNNING");
    }

    private async Task<(int Sent, string? Skipped)> SendArtifactsAsync(LocalRun run, Mapping mapping, CancellationToken cancel)
    {
        var sent = ReadSent(run.Id, "artifact");
        var pending = new List<(string Path, string Version)>();
        using (var command = Sql.Command(_connection, "SELECT path, size, logged_time FROM artifacts WHERE run_id = @run ORDER BY path;", ("@run", run.Id)))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                string version = string.Create(CultureInfo.InvariantCulture, $"{reader.GetInt64(1)}@{reader.GetInt64(2)}");
                if (sent.GetValueOrDefault(reader.GetString(0)) != version)
                    pending.Add((reader.GetString(0), version));
            }
        }
        if (pending.Count == 0)
            return (0, null);
        if (_client.ArtifactRoot(mapping.ArtifactUri) is not { } root)
        {
            return (0, $"the server keeps this run's artifacts at {mapping.ArtifactUri}, which only its artifact proxy could write " +
                "(start `mlflow server` with artifact serving, the default since MLflow 2.0)");
        }

        string runDirectory = ArtifactPaths.RunDirectory(_storeDirectory, run.Id);
        int count = 0;
        var refused = new List<string>();
        foreach (var (path, version) in pending)
        {
            string file;
            try
            {
                file = ArtifactPaths.Resolve(runDirectory, path);
            }
            catch (InvalidInputException e)
            {
                refused.Add(e.Message); // a symbolic link out of the run's folder: never uploaded
                continue;
            }
            if (!File.Exists(file))
                continue; // registered but gone (e.g. deleted by hand): nothing to send
            await _client.UploadArtifactAsync(root, path, file, cancel).ConfigureAwait(false);
            RecordSent(run.Id, "artifact", path, version);
            count++;
        }
        return (count, refused.Count == 0 ? null : string.Join("; ", refused));
    }

    private async Task<string> SendStatusAsync(LocalRun run, Mapping mapping, CancellationToken cancel)
    {
        string status = RunStatusText.ToText(run.Status);
        await _client.UpdateRunAsync(mapping.RemoteRunId, run.Status, run.EndMs, cancel).ConfigureAwait(false);
        Sql.Execute(_connection, "UPDATE mlflow_runs SET status_sent = @status WHERE run_id = @run AND server = @server;",
            ("@status", status), ("@run", run.Id), ("@server", _server));
        return status;
    }

    /// <summary>Records one batch of <paramref name="metricRows"/> metric rows as done: what the server took as sent, the rest as refused.</summary>
    private void RecordBatch(string runId, int metricRows, MlflowBatch accepted, List<MlflowRefusal> refused)
    {
        using var transaction = _connection.BeginTransaction();
        Sql.Execute(_connection, "UPDATE mlflow_runs SET metrics_sent = metrics_sent + @count WHERE run_id = @run AND server = @server;",
            ("@count", metricRows), ("@run", runId), ("@server", _server));
        foreach (var param in accepted.Params)
            RecordSent(runId, "param", param.Key, param.Value);
        foreach (var tag in accepted.Tags)
            RecordSent(runId, "tag", tag.Key, tag.Value);
        foreach (var refusal in refused)
        {
            Sql.Execute(_connection,
                """
                INSERT INTO mlflow_skipped (run_id, server, kind, key, value, reason) VALUES (@run, @server, @kind, @key, @value, @reason)
                ON CONFLICT (run_id, server, kind, key) DO UPDATE SET value = excluded.value, reason = excluded.reason;
                """,
                ("@run", runId), ("@server", _server), ("@kind", refusal.Kind), ("@key", refusal.Key), ("@value", refusal.Value),
                ("@reason", refusal.Reason));
        }
        transaction.Commit();
    }

    private void RecordSent(string runId, string kind, string key, string value) =>
        Sql.Execute(_connection,
            """
            INSERT INTO mlflow_sent (run_id, server, kind, key, value) VALUES (@run, @server, @kind, @key, @value)
            ON CONFLICT (run_id, server, kind, key) DO UPDATE SET value = excluded.value;
            """,
            ("@run", runId), ("@server", _server), ("@kind", kind), ("@key", key), ("@value", value));

    private LocalRun ReadRun(string runId)
    {
        using var command = Sql.Command(_connection,
            """
            SELECT r.id, r.name, e.name, r.status, r.start_time, r.end_time, r.parent_run_id
            FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id = @run;
            """,
            ("@run", runId));
        using var reader = command.ExecuteReader();
        if (!reader.Read())
            throw new InvalidInputException($"no run '{runId}' in the store {_storeDirectory}");
        return new LocalRun(reader.GetString(0), reader.GetString(1), reader.GetString(2), RunStatusText.Parse(reader.GetString(3)),
            reader.GetInt64(4), reader.IsDBNull(5) ? null : reader.GetInt64(5), reader.IsDBNull(6) ? null : reader.GetString(6));
    }

    private Mapping? ReadMapping(string runId)
    {
        using var command = Sql.Command(_connection,
            "SELECT remote_run_id, experiment_id, artifact_uri, metrics_sent, status_sent FROM mlflow_runs WHERE run_id = @run AND server = @server;",
            ("@run", runId), ("@server", _server));
        using var reader = command.ExecuteReader();
        return reader.Read()
            ? new Mapping(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetString(4))
            : null;
    }

    private Dictionary<string, string> ReadSent(string runId, string kind) => ReadKeyValues("mlflow_sent", runId, kind);

    /// <summary>The items of a kind that this server refused, key → value refused.</summary>
    private Dictionary<string, string> ReadRefused(string runId, string kind) => ReadKeyValues("mlflow_skipped", runId, kind);

    private List<(string Id, RunStatus Status)> ReadChildren(string runId)
    {
        using var command = Sql.Command(_connection,
            "SELECT id, status FROM runs WHERE parent_run_id = @run AND deleted_time IS NULL ORDER BY start_time, rowid;", ("@run", runId));
        using var reader = command.ExecuteReader();
        var children = new List<(string, RunStatus)>();
        while (reader.Read())
            children.Add((reader.GetString(0), RunStatusText.Parse(reader.GetString(1))));
        return children;
    }

    private Dictionary<string, string> ReadKeyValues(string table, string runId, string kind)
    {
        using var command = Sql.Command(_connection,
            $"SELECT key, value FROM {table} WHERE run_id = @run AND server = @server AND kind = @kind;",
            ("@run", runId), ("@server", _server), ("@kind", kind));
        using var reader = command.ExecuteReader();
        var sent = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read())
            sent[reader.GetString(0)] = reader.GetString(1);
        return sent;
    }

    private List<MlflowKeyValue> ReadPairs(string sql, string runId)
    {
        using var command = Sql.Command(_connection, sql, ("@run", runId));
        using var reader = command.ExecuteReader();
        var pairs = new List<MlflowKeyValue>();
        while (reader.Read())
            pairs.Add(new MlflowKeyValue(reader.GetString(0), reader.GetString(1)));
        return pairs;
    }

    /// <summary>The run's metric rows in the order they were written (rowid), from <paramref name="offset"/> on.</summary>
    private List<MlflowMetric> ReadMetrics(string runId, long offset, int limit)
    {
        using var command = Sql.Command(_connection,
            "SELECT key, value, timestamp, step FROM metrics WHERE run_id = @run ORDER BY rowid LIMIT @limit OFFSET @offset;",
            ("@run", runId), ("@limit", limit), ("@offset", offset));
        using var reader = command.ExecuteReader();
        var metrics = new List<MlflowMetric>();
        while (reader.Read())
            metrics.Add(new MlflowMetric(reader.GetString(0), Sql.ReadMetricValue(reader, 1), reader.GetInt64(2), reader.GetInt64(3)));
        return metrics;
    }
}
