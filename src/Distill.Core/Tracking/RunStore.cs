using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Distill.Core.Tracking;

/// <summary>
/// The embedded experiment-tracking store: &lt;directory&gt;/distill.db (SQLite, WAL) plus
/// &lt;directory&gt;/artifacts/&lt;runId&gt;/. Several processes may use the same store at once.
/// Metrics still buffered in a live tracker are not visible to readers until it flushes (≤ 1 s).
/// </summary>
public sealed partial class RunStore : IDisposable
{
    /// <summary>A RUNNING run whose owner cannot be checked directly is considered dead after this long without a heartbeat.</summary>
    internal static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromMinutes(2);

    private const int CandidatesShown = 10;

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();
    private readonly string _databasePath;
    /// <summary>The database is not writable by this user: runs can be read, nothing can be changed.</summary>
    private readonly bool _readOnly;
    private bool _disposed;

    private RunStore(string directory, string databasePath, SqliteConnection connection)
    {
        Directory = directory;
        _databasePath = databasePath;
        _connection = connection;
        _readOnly = StoreSchema.IsReadOnly(connection);
    }

    public string Directory { get; }

    /// <summary>How often trackers started from now on write their heartbeat (tests shorten it).</summary>
    internal TimeSpan HeartbeatInterval { get; set; } = StoreTracker.DefaultHeartbeatInterval;

    /// <summary>
    /// Opens (creating if needed) the store in <paramref name="directory"/>, and marks as FAILED the
    /// RUNNING runs whose process has died.
    /// </summary>
    public static RunStore Open(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        string full = Path.GetFullPath(directory);
        if (File.Exists(full))
            throw new InvalidInputException($"{full}: is a file; a run store is a folder");
        try
        {
            System.IO.Directory.CreateDirectory(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{full}: cannot create the run store's folder: {e.Message}", e);
        }
        string databasePath = Path.Combine(full, StoreSchema.DatabaseFileName);
        if (System.IO.Directory.Exists(databasePath))
            throw new InvalidInputException($"{databasePath}: is a folder; expected the run store's SQLite database");

        var store = new RunStore(full, databasePath, StoreSchema.OpenAndMigrate(databasePath));
        try
        {
            if (!store._readOnly)
                store.FailAbandonedRuns();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    public ITracker StartRun(string experiment, string name, string? parentRunId = null)
    {
        TrackingNames.ValidateName("experiment name", experiment);
        TrackingNames.ValidateName("run name", name);
        RequireWritable("start a run");
        string runId = Guid.NewGuid().ToString("N");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string? parentId = parentRunId is null ? null : ResolveRunId(parentRunId);
            long now = Sql.NowMs();
            var owner = ProcessIdentity.Current;
            string folder = ArtifactPaths.RunDirectory(Directory, runId);
            using var transaction = _connection.BeginTransaction();
            Sql.Execute(_connection, "INSERT INTO experiments (name, created_time) VALUES (@name, @now) ON CONFLICT (name) DO NOTHING;",
                ("@name", experiment), ("@now", now));
            Sql.Execute(_connection,
                """
                INSERT INTO runs (id, experiment_id, name, status, start_time, end_time, parent_run_id, pid, host, process_start_time, heartbeat)
                VALUES (@id, (SELECT id FROM experiments WHERE name = @experiment), @name, 'RUNNING', @now, NULL, @parent, @pid, @host, @pstart, @now);
                """,
                ("@id", runId), ("@experiment", experiment), ("@name", name), ("@now", now), ("@parent", parentId),
                ("@pid", owner.Pid), ("@host", owner.Host), ("@pstart", owner.StartTimeMs));
            try
            {
                EndNote.Reserve(folder);
                transaction.Commit();
            }
            catch (Exception e)
            {
                TryDeleteFolder(folder);
                if (e is SqliteException && DiskFull.Is(e))
                    throw DiskFull.InDatabase(_databasePath, e);
                throw;
            }
        }
        return CreateTracker(runId);
    }

    /// <summary>
    /// Continues a run under the same id (after a crash, or to add to it): status back to RUNNING,
    /// end time and "error" tag cleared, owner and heartbeat set to this process. Refused while
    /// another live process owns the run. Its metrics stay as they are (see <see cref="TruncateMetrics"/>).
    /// </summary>
    public ITracker ResumeRun(string runId)
    {
        RequireWritable("resume a run");
        string id;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            id = ResolveRunId(runId);
            var owner = ProcessIdentity.Current;
            using var transaction = _connection.BeginTransaction();
            var run = ReadOwners("id = @id", ("@id", id)).Single();
            bool ownedHere = run.Host == owner.Host && run.Pid == owner.Pid
                && ProcessLiveness.Check(run.Pid, run.ProcessStartMs) == Liveness.Alive;
            if (run.Status == RunStatus.Running && !ownedHere && !IsAbandoned(run, Sql.NowMs()))
                throw new InvalidInputException(
                    $"run {id} is still running (pid {run.Pid} on host {run.Host}, last heartbeat {FormatTime(run.HeartbeatMs)}); " +
                    "it cannot be resumed by another process");
            Sql.Execute(_connection,
                """
                UPDATE runs SET status = 'RUNNING', end_time = NULL, pid = @pid, host = @host, process_start_time = @pstart, heartbeat = @now
                WHERE id = @id;
                """,
                ("@pid", owner.Pid), ("@host", owner.Host), ("@pstart", owner.StartTimeMs), ("@now", Sql.NowMs()), ("@id", id));
            Sql.Execute(_connection, "DELETE FROM tags WHERE run_id = @id AND key = 'error';", ("@id", id));
            EndNote.Reserve(ArtifactPaths.RunDirectory(Directory, id));
            try
            {
                transaction.Commit();
            }
            catch (SqliteException e) when (DiskFull.Is(e))
            {
                throw DiskFull.InDatabase(_databasePath, e);
            }
        }
        return CreateTracker(id);
    }

    /// <summary>Runs that are not deleted, newest first; all of them or those of one experiment.</summary>
    public IReadOnlyList<RunRecord> ListRuns(string? experiment = null) => FindRuns(new RunSelection { Experiment = experiment });

    /// <summary>A run by its id or a unique prefix of it.</summary>
    public RunRecord GetRun(string idOrPrefix)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(idOrPrefix);
            return LoadRuns("r.id = @id", ("@id", id)).Single();
        }
    }

    /// <summary>Every point logged for the metric, in step order (then logging order); empty for an unknown key.</summary>
    public IReadOnlyList<MetricPoint> GetMetricHistory(string runId, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(runId);
            using var command = Sql.Command(_connection,
                "SELECT step, value, timestamp FROM metrics WHERE run_id = @id AND key = @key ORDER BY step, timestamp, rowid;",
                ("@id", id), ("@key", key));
            using var reader = command.ExecuteReader();
            var points = new List<MetricPoint>();
            while (reader.Read())
                points.Add(new MetricPoint(reader.GetInt64(0), Sql.ReadMetricValue(reader, 1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
            return points;
        }
    }

    /// <summary>Where an artifact of the run lives on disk, whether or not it is registered (the path is validated).</summary>
    public string ArtifactFile(string runId, string artifactPath) =>
        ArtifactPaths.Resolve(ArtifactPaths.RunDirectory(Directory, runId), TrackingNames.NormalizeArtifactPath(artifactPath));

    /// <summary>The full path of a registered artifact of the run; the path is validated and the file must exist.</summary>
    public string ResolveArtifact(string runId, string artifactPath)
    {
        string relative = TrackingNames.NormalizeArtifactPath(artifactPath);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(runId);
            var registered = new List<string>();
            using (var command = Sql.Command(_connection, "SELECT path FROM artifacts WHERE run_id = @id ORDER BY path;", ("@id", id)))
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                    registered.Add(reader.GetString(0));
            }
            if (!registered.Contains(relative))
                throw new InvalidInputException(
                    $"run {id} has no artifact '{relative}'; its artifacts: " +
                    (registered.Count == 0 ? "none" : string.Join(", ", registered)));
            string full = ArtifactFile(id, relative);
            if (!File.Exists(full))
                throw new InvalidInputException($"artifact '{relative}' of run {id} is registered but {full} is missing");
            return full;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
            _connection.Dispose();
        }
    }

    private void RequireWritable(string action)
    {
        if (_readOnly)
            throw new InvalidInputException(StoreSchema.ReadOnlyMessage(_databasePath, action));
    }

    private ITracker CreateTracker(string runId)
    {
        string artifacts = ArtifactPaths.RunDirectory(Directory, runId);
        System.IO.Directory.CreateDirectory(artifacts);
        return new StoreTracker(_databasePath, runId, artifacts, HeartbeatInterval);
    }

    private sealed record RunOwner(string Id, RunStatus Status, int Pid, string Host, long ProcessStartMs, long HeartbeatMs);

    /// <summary>
    /// Ends the RUNNING runs whose process is gone: as their <see cref="EndNote"/> says when the database could
    /// not take their end (a full disk), FAILED otherwise. While the disk is still full they stay RUNNING, and
    /// the store can be read meanwhile.
    /// </summary>
    private void FailAbandonedRuns()
    {
        long now = Sql.NowMs();
        foreach (var run in ReadOwners("status = 'RUNNING'"))
        {
            if (!IsAbandoned(run, now))
                continue;
            string folder = ArtifactPaths.RunDirectory(Directory, run.Id);
            var note = EndNote.Read(folder);
            var status = note?.Status ?? RunStatus.Failed;
            string error = note?.Error ?? $"process died without ending the run (no heartbeat since {FormatTime(run.HeartbeatMs)})";
            int changed;
            try
            {
                using var transaction = _connection.BeginTransaction();
                // Guarded by the heartbeat read above, so a run resumed meanwhile by another process is left alone.
                changed = Sql.Execute(_connection,
                    "UPDATE runs SET status = @status, end_time = @end WHERE id = @id AND status = 'RUNNING' AND heartbeat = @heartbeat;",
                    ("@status", RunStatusText.ToText(status)), ("@end", note?.EndMs ?? run.HeartbeatMs), ("@id", run.Id),
                    ("@heartbeat", run.HeartbeatMs));
                if (changed == 1)
                {
                    Sql.Execute(_connection,
                        "INSERT INTO tags (run_id, key, value) VALUES (@id, 'error', @error) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value;",
                        ("@id", run.Id), ("@error", error));
                }
                transaction.Commit();
            }
            catch (SqliteException e) when (DiskFull.Is(e))
            {
                return;
            }
            if (changed == 1)
                EndNote.Remove(folder);
        }
    }

    private static void TryDeleteFolder(string folder)
    {
        try
        {
            System.IO.Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// On this host the process table decides: a run whose pid is gone, or now belongs to a process
    /// started at another time (pid reused), is dead, and one whose process is alive is not, even with
    /// a stale heartbeat (a suspended process). Runs of other hosts, or whose process cannot be
    /// inspected, are dead after <see cref="HeartbeatTimeout"/> without a heartbeat.
    /// </summary>
    private static bool IsAbandoned(RunOwner run, long nowMs)
    {
        if (run.Status != RunStatus.Running)
            return false;
        if (run.Host == ProcessIdentity.Current.Host)
        {
            var liveness = ProcessLiveness.Check(run.Pid, run.ProcessStartMs);
            if (liveness != Liveness.Unknown)
                return liveness == Liveness.Dead;
        }
        return nowMs - run.HeartbeatMs > HeartbeatTimeout.TotalMilliseconds;
    }

    private List<RunOwner> ReadOwners(string filter, params (string Name, object? Value)[] parameters)
    {
        using var command = Sql.Command(_connection,
            $"SELECT id, status, pid, host, process_start_time, heartbeat FROM runs WHERE {filter};", parameters);
        using var reader = command.ExecuteReader();
        var owners = new List<RunOwner>();
        while (reader.Read())
        {
            owners.Add(new RunOwner(reader.GetString(0), RunStatusText.Parse(reader.GetString(1)), reader.GetInt32(2),
                reader.GetString(3), reader.GetInt64(4), reader.GetInt64(5)));
        }
        return owners;
    }

    /// <summary>The full id of the run whose id is <paramref name="idOrPrefix"/> or starts with it.</summary>
    private string ResolveRunId(string idOrPrefix)
    {
        ArgumentNullException.ThrowIfNull(idOrPrefix);
        string needle = idOrPrefix.Trim().ToLowerInvariant();
        if (needle.Length == 0)
            throw new InvalidInputException("a run id is required (the full id or a unique prefix)");

        var matches = new List<(string Id, string Label)>();
        if (needle.Length <= 32 && needle.All(char.IsAsciiHexDigitLower))
        {
            // Ids are lowercase hex, and every hex digit sorts before 'g': this range is "starts with needle".
            matches = ReadCandidates("r.id >= @low AND r.id < @high", CandidatesShown + 1, ("@low", needle), ("@high", needle + "g"));
        }
        if (matches.Count == 1)
            return matches[0].Id;

        var message = new StringBuilder();
        if (matches.Count == 0)
        {
            var recent = ReadCandidates("1 = 1", CandidatesShown);
            message.Append(CultureInfo.InvariantCulture, $"no run '{TrackingNames.Printable(idOrPrefix)}' in {_databasePath}");
            message.Append(recent.Count == 0 ? "; the store has no runs" : "; most recent runs:");
            matches = recent;
        }
        else
        {
            message.Append(CultureInfo.InvariantCulture, $"run id prefix '{needle}' is ambiguous in {_databasePath}; it matches ");
            message.Append(matches.Count > CandidatesShown ? $"more than {CandidatesShown} runs, including:" : $"{matches.Count} runs:");
            matches = matches.Take(CandidatesShown).ToList();
        }
        foreach (var (id, label) in matches)
            message.Append(CultureInfo.InvariantCulture, $"\n  {id}  {label}");
        throw new InvalidInputException(message.ToString());
    }

    private List<(string Id, string Label)> ReadCandidates(string filter, int limit, params (string Name, object? Value)[] parameters)
    {
        using var command = Sql.Command(_connection,
            $"""
            SELECT r.id, e.name, r.name, r.status, r.start_time FROM runs r JOIN experiments e ON e.id = r.experiment_id
            WHERE {filter} ORDER BY r.start_time DESC, r.rowid DESC LIMIT {limit};
            """,
            parameters);
        using var reader = command.ExecuteReader();
        var candidates = new List<(string, string)>();
        while (reader.Read())
            candidates.Add((reader.GetString(0), $"{reader.GetString(1)}/{reader.GetString(2)}  {reader.GetString(3)}  started {FormatTime(reader.GetInt64(4))}"));
        return candidates;
    }

    /// <summary>Runs matching a filter over runs r joined with experiments e, newest first, with their params, metrics, tags and artifacts.</summary>
    private List<RunRecord> LoadRuns(string filter, params (string Name, object? Value)[] parameters)
    {
        string selected = $"SELECT r.id FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE {filter}";
        var paramsByRun = ReadPairs($"SELECT run_id, key, value FROM params WHERE run_id IN ({selected}) ORDER BY key;", parameters,
            reader => reader.GetString(2));
        var tagsByRun = ReadPairs($"SELECT run_id, key, value FROM tags WHERE run_id IN ({selected}) ORDER BY key;", parameters,
            reader => reader.GetString(2));
        var metricsByRun = ReadPairs($"SELECT run_id, key, value FROM latest_metrics WHERE run_id IN ({selected}) ORDER BY key;", parameters,
            reader => Sql.ReadMetricValue(reader, 2));
        var artifactsByRun = new Dictionary<string, List<string>>();
        using (var command = Sql.Command(_connection, $"SELECT run_id, path FROM artifacts WHERE run_id IN ({selected}) ORDER BY path;", parameters))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
                GetOrAdd(artifactsByRun, reader.GetString(0)).Add(reader.GetString(1));
        }

        using var runs = Sql.Command(_connection,
            $"""
            SELECT r.id, e.name, r.name, r.status, r.start_time, r.end_time, r.parent_run_id, r.deleted_time
            FROM runs r JOIN experiments e ON e.id = r.experiment_id
            WHERE {filter} ORDER BY r.start_time DESC, r.rowid DESC;
            """,
            parameters);
        using var runReader = runs.ExecuteReader();
        var records = new List<RunRecord>();
        while (runReader.Read())
        {
            string id = runReader.GetString(0);
            records.Add(new RunRecord(
                id,
                runReader.GetString(1),
                runReader.GetString(2),
                RunStatusText.Parse(runReader.GetString(3)),
                DateTimeOffset.FromUnixTimeMilliseconds(runReader.GetInt64(4)),
                runReader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(runReader.GetInt64(5)),
                runReader.IsDBNull(6) ? null : runReader.GetString(6),
                paramsByRun.GetValueOrDefault(id) ?? new Dictionary<string, string>(),
                metricsByRun.GetValueOrDefault(id) ?? new Dictionary<string, double>(),
                tagsByRun.GetValueOrDefault(id) ?? new Dictionary<string, string>(),
                artifactsByRun.GetValueOrDefault(id) ?? [])
            {
                DeletedTime = runReader.IsDBNull(7) ? null : DateTimeOffset.FromUnixTimeMilliseconds(runReader.GetInt64(7)),
            });
        }
        return records;
    }

    private Dictionary<string, Dictionary<string, T>> ReadPairs<T>(string sql, (string Name, object? Value)[] parameters, Func<SqliteDataReader, T> readValue)
    {
        using var command = Sql.Command(_connection, sql, parameters);
        using var reader = command.ExecuteReader();
        var byRun = new Dictionary<string, Dictionary<string, T>>();
        while (reader.Read())
        {
            string runId = reader.GetString(0);
            if (!byRun.TryGetValue(runId, out var pairs))
                byRun[runId] = pairs = new Dictionary<string, T>(StringComparer.Ordinal);
            pairs[reader.GetString(1)] = readValue(reader);
        }
        return byRun;
    }

    private static List<string> GetOrAdd(Dictionary<string, List<string>> lists, string key)
    {
        if (!lists.TryGetValue(key, out var list))
            lists[key] = list = [];
        return list;
    }

    internal static string FormatTime(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
