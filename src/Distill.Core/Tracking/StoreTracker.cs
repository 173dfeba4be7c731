using System.Runtime.ExceptionServices;
using Microsoft.Data.Sqlite;

namespace Distill.Core.Tracking;

/// <summary>
/// The tracker of one run in the embedded store. It owns its own connection, so it may outlive
/// the <see cref="RunStore"/> that started it. Metrics are buffered and written in one transaction
/// per batch (every second, every <see cref="FlushThreshold"/> points, and on End/Dispose); a
/// heartbeat is written every 15 s (checked on each timer tick) so that other processes can tell a live run from a dead one.
/// When the database's disk is full, writes fail with a <see cref="DiskFullException"/> naming the database, and
/// <see cref="End"/> keeps the run's end in its folder instead (<see cref="EndNote"/>).
/// </summary>
internal sealed class StoreTracker : ITracker
{
    internal const int FlushThreshold = 500;
    internal static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);
    internal static readonly TimeSpan DefaultHeartbeatInterval = TimeSpan.FromSeconds(15);

    private readonly record struct PendingMetric(string Key, long Step, double Value, long TimestampMs);

    private readonly SqliteConnection _connection;
    private readonly string _databasePath;
    private readonly Timer _timer;
    private readonly TimeSpan _heartbeatInterval;

    // Lock order: _writeLock, then _bufferLock. _writeLock guards the connection and _lastHeartbeatMs;
    // _bufferLock guards the buffer, the key cache and the state flags, and is held only briefly.
    private readonly Lock _writeLock = new();
    private readonly Lock _bufferLock = new();
    private List<PendingMetric> _buffer = new(FlushThreshold);
    private readonly HashSet<string> _validMetricKeys = new(StringComparer.Ordinal);
    private bool _ended;
    private bool _closed;
    private long _lastHeartbeatMs;

    public StoreTracker(string databasePath, string runId, string artifactDirectory, TimeSpan heartbeatInterval)
    {
        RunId = runId;
        ArtifactDirectory = artifactDirectory;
        _heartbeatInterval = heartbeatInterval;
        _databasePath = databasePath;
        _connection = StoreSchema.Open(databasePath);
        _lastHeartbeatMs = Sql.NowMs();
        _timer = new Timer(OnTimer, null, FlushInterval, FlushInterval);
    }

    public string RunId { get; }

    public string ArtifactDirectory { get; }

    public void LogParams(IReadOnlyDictionary<string, string> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        foreach (var (key, value) in parameters)
        {
            TrackingNames.ValidateKey("param", key);
            TrackingNames.ValidateValue("param", key, value, TrackingNames.MaxParamValueLength);
        }
        lock (_writeLock)
        {
            ThrowIfInactive();
            InDatabase(() => WriteParams(parameters));
        }
    }

    public void LogMetric(string key, double value, long step)
    {
        long now = Sql.NowMs();
        bool flushNow;
        lock (_bufferLock)
        {
            ThrowIfInactiveLocked();
            if (!_validMetricKeys.Contains(key))
            {
                TrackingNames.ValidateKey("metric", key);
                _validMetricKeys.Add(key);
            }
            _buffer.Add(new PendingMetric(key, step, value, now));
            flushNow = _buffer.Count >= FlushThreshold;
        }
        if (flushNow)
        {
            lock (_writeLock)
            {
                if (!_closed)
                    FlushLocked();
            }
        }
    }

    public void SetTag(string key, string value)
    {
        TrackingNames.ValidateKey("tag", key);
        TrackingNames.ValidateValue("tag", key, value, TrackingNames.MaxTagValueLength);
        lock (_writeLock)
        {
            ThrowIfInactive();
            InDatabase(() => WriteTag(key, value));
        }
    }

    public void LogArtifact(string localPath, string? artifactPath = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(localPath);
        string relative = TrackingNames.NormalizeArtifactPath(artifactPath ?? Path.GetFileName(localPath));
        if (!File.Exists(localPath))
            throw new FileNotFoundException($"cannot log artifact '{relative}': {localPath} does not exist", localPath);
        lock (_writeLock)
        {
            ThrowIfInactive();
            string destination = ArtifactPaths.Resolve(ArtifactDirectory, relative);
            // Readers never see a half-copied file: copy next to the target, then rename over it.
            AtomicFile.Copy(localPath, destination);
            InDatabase(() => WriteArtifact(relative, new FileInfo(destination).Length));
        }
    }

    public void RegisterArtifact(string artifactPath)
    {
        string relative = TrackingNames.NormalizeArtifactPath(artifactPath);
        lock (_writeLock)
        {
            ThrowIfInactive();
            string full = ArtifactPaths.Resolve(ArtifactDirectory, relative);
            if (!File.Exists(full))
                throw new FileNotFoundException($"cannot register artifact '{relative}' of run {RunId}: {full} does not exist", full);
            InDatabase(() => WriteArtifact(relative, new FileInfo(full).Length));
        }
    }

    /// <summary>Commits the buffered metrics now: once this returns they survive a kill -9.</summary>
    public void Flush()
    {
        lock (_writeLock)
        {
            ThrowIfInactive();
            FlushLocked();
        }
    }

    /// <remarks>When the database's disk is full, a run that fails or is killed keeps its end in its folder
    /// (<see cref="EndNote"/>) and this returns normally: the caller's own error is the one to report.</remarks>
    public void End(RunStatus status, string? error = null)
    {
        if (status == RunStatus.Running)
            throw new ArgumentException("a run cannot end with status Running", nameof(status));
        lock (_writeLock)
        {
            lock (_bufferLock)
            {
                ThrowIfInactiveLocked();
                _ended = true; // no more metrics from other threads once the final flush starts
            }
            Exception? failure = null;
            try
            {
                FlushLocked();
                InDatabase(() => WriteEnd(status, error));
            }
            catch (Exception e)
            {
                failure = e;
            }
            if (failure is null)
            {
                EndNote.Remove(ArtifactDirectory);
                return;
            }
            if (status != RunStatus.Finished && DiskFull.Is(failure) && TryKeepEndNote(status, error ?? failure.Message))
                return;
            lock (_bufferLock)
                _ended = false; // let the caller retry, e.g. End(Failed) after End(Finished) threw
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Flushes buffered metrics and closes the connection; the run's status is not changed.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        lock (_writeLock)
        {
            lock (_bufferLock)
            {
                if (_closed)
                    return;
                _closed = true;
            }
            try
            {
                FlushLocked();
            }
            catch (Exception)
            {
                // Dispose runs on error paths (using blocks unwinding an exception); throwing here
                // would hide the original failure. End() reports flush failures to its caller.
            }
            finally
            {
                _connection.Dispose();
            }
        }
    }

    private void WriteEnd(RunStatus status, string? error)
    {
        using var transaction = _connection.BeginTransaction();
        Sql.Execute(_connection, "UPDATE runs SET status = @status, end_time = @end WHERE id = @id;",
            ("@status", RunStatusText.ToText(status)), ("@end", Sql.NowMs()), ("@id", RunId));
        if (error is not null)
            WriteTag("error", TruncateError(error));
        transaction.Commit();
    }

    private bool TryKeepEndNote(RunStatus status, string error)
    {
        try
        {
            EndNote.Keep(ArtifactDirectory, status, TruncateError(error), Sql.NowMs());
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private void OnTimer(object? state)
    {
        // Skip a tick rather than queue behind a flush that the training thread is doing.
        if (!_writeLock.TryEnter())
            return;
        try
        {
            if (_closed)
                return;
            FlushLocked();
            long now = Sql.NowMs();
            if (!_ended && now - _lastHeartbeatMs >= _heartbeatInterval.TotalMilliseconds)
            {
                Sql.Execute(_connection, "UPDATE runs SET heartbeat = @now WHERE id = @id AND status = 'RUNNING';", ("@now", now), ("@id", RunId));
                _lastHeartbeatMs = now;
            }
        }
        catch (Exception)
        {
            // An exception on a timer thread would end the process. The failed batch went back
            // into the buffer; the next flush on the caller's thread (at the threshold or in End)
            // retries it and reports a lasting failure.
        }
        finally
        {
            _writeLock.Exit();
        }
    }

    /// <summary>Writes all buffered metrics in one transaction; on failure they go back into the buffer.</summary>
    private void FlushLocked()
    {
        List<PendingMetric> batch;
        lock (_bufferLock)
        {
            if (_buffer.Count == 0)
                return;
            batch = _buffer;
            _buffer = new List<PendingMetric>(FlushThreshold);
        }
        try
        {
            InDatabase(() => WriteMetrics(batch));
        }
        catch
        {
            lock (_bufferLock)
            {
                batch.AddRange(_buffer);
                _buffer = batch;
            }
            throw;
        }
    }

    private void WriteParams(IReadOnlyDictionary<string, string> parameters)
    {
        using var transaction = _connection.BeginTransaction();
        using var select = Sql.Command(_connection, "SELECT value FROM params WHERE run_id = @run AND key = @key;", ("@run", RunId), ("@key", ""));
        using var insert = Sql.Command(_connection, "INSERT INTO params (run_id, key, value) VALUES (@run, @key, @value);", ("@run", RunId), ("@key", ""), ("@value", ""));
        foreach (var (key, value) in parameters)
        {
            select.Parameters["@key"].Value = key;
            if (select.ExecuteScalar() is string existing)
            {
                if (existing != value)
                    throw new InvalidInputException(
                        $"param '{key}' of run {RunId} was already logged as '{existing}'; it cannot change to '{value}'");
                continue;
            }
            insert.Parameters["@key"].Value = key;
            insert.Parameters["@value"].Value = value;
            insert.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    private void WriteMetrics(List<PendingMetric> batch)
    {
        using var transaction = _connection.BeginTransaction();
        using var insert = Sql.Command(_connection,
            "INSERT INTO metrics (run_id, key, step, value, timestamp) VALUES (@run, @key, @step, @value, @time);",
            ("@run", RunId), ("@key", ""), ("@step", 0L), ("@value", 0.0), ("@time", 0L));
        // Points arrive in logging order, so among equal steps and times the later one wins.
        using var latest = Sql.Command(_connection,
            """
            INSERT INTO latest_metrics (run_id, key, step, value, timestamp) VALUES (@run, @key, @step, @value, @time)
            ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value, timestamp = excluded.timestamp
            WHERE excluded.step > latest_metrics.step
               OR (excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp);
            """,
            ("@run", RunId), ("@key", ""), ("@step", 0L), ("@value", 0.0), ("@time", 0L));
        insert.Prepare();
        latest.Prepare();
        foreach (var point in batch)
        {
            Bind(insert, point);
            insert.ExecuteNonQuery();
            Bind(latest, point);
            latest.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    private static void Bind(SqliteCommand command, PendingMetric point)
    {
        command.Parameters["@key"].Value = point.Key;
        command.Parameters["@step"].Value = point.Step;
        command.Parameters["@value"].Value = Sql.MetricValue(point.Value);
        command.Parameters["@time"].Value = point.TimestampMs;
    }

    private void WriteTag(string key, string value) =>
        Sql.Execute(_connection,
            "INSERT INTO tags (run_id, key, value) VALUES (@run, @key, @value) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value;",
            ("@run", RunId), ("@key", key), ("@value", value));

    private void WriteArtifact(string relativePath, long size) =>
        Sql.Execute(_connection,
            """
            INSERT INTO artifacts (run_id, path, size, logged_time) VALUES (@run, @path, @size, @time)
            ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size, logged_time = excluded.logged_time;
            """,
            ("@run", RunId), ("@path", relativePath), ("@size", size), ("@time", Sql.NowMs()));

    /// <summary>Runs a write; a full disk is reported with the database's path.</summary>
    private void InDatabase(Action write)
    {
        try
        {
            write();
        }
        catch (SqliteException e) when (DiskFull.Is(e))
        {
            throw DiskFull.InDatabase(_databasePath, e);
        }
    }

    // The run must be able to end whatever the error says; keep the start of a long message.
    private static string TruncateError(string error) => TrackingNames.FitTagValue(error);

    private void ThrowIfInactive()
    {
        lock (_bufferLock)
            ThrowIfInactiveLocked();
    }

    private void ThrowIfInactiveLocked()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (_ended)
            throw new InvalidOperationException($"run {RunId} has ended; nothing more can be logged to it");
    }
}
