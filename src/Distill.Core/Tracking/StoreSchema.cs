using System.Text;
using Microsoft.Data.Sqlite;

namespace Distill.Core.Tracking;

/// <summary>
/// Opens connections to a store's database and keeps its schema current. A store is marked by
/// PRAGMA application_id; its schema version is PRAGMA user_version, and the migrations below are
/// applied in order. Anything that is not a Distill store is rejected before a single byte is written.
/// </summary>
internal static class StoreSchema
{
    public const string DatabaseFileName = "distill.db";

    /// <summary>"DSTL" as a big-endian int.</summary>
    public const int ApplicationId = 0x4453544C;

    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(10);

    private const int SqliteReadOnly = 8;
    private const int SqliteCantOpen = 14;

    private static readonly byte[] SqliteHeader = Encoding.ASCII.GetBytes("SQLite format 3\0");

    /// <summary>Migration i brings the schema from version i to version i + 1.</summary>
    private static readonly string[] Migrations =
    [
        $"""
        PRAGMA application_id = {ApplicationId};
        CREATE TABLE experiments (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_time INTEGER NOT NULL);
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            experiment_id INTEGER NOT NULL REFERENCES experiments(id),
            name TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
            start_time INTEGER NOT NULL,
            end_time INTEGER,
            parent_run_id TEXT REFERENCES runs(id),
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            process_start_time INTEGER NOT NULL,
            heartbeat INTEGER NOT NULL);
        CREATE INDEX runs_by_start ON runs(start_time);
        CREATE INDEX runs_by_status ON runs(status);
        CREATE TABLE params (
            run_id TEXT NOT NULL REFERENCES runs(id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, key)) WITHOUT ROWID;
        -- value is NULL for NaN: SQLite cannot store NaN as a REAL.
        CREATE TABLE metrics (
            run_id TEXT NOT NULL REFERENCES runs(id),
            key TEXT NOT NULL,
            step INTEGER NOT NULL,
            value REAL,
            timestamp INTEGER NOT NULL);
        CREATE INDEX metrics_by_run_key_step ON metrics(run_id, key, step);
        -- Kept up to date on every flush so that listing runs does not scan metric histories.
        CREATE TABLE latest_metrics (
            run_id TEXT NOT NULL REFERENCES runs(id),
            key TEXT NOT NULL,
            step INTEGER NOT NULL,
            value REAL,
            timestamp INTEGER NOT NULL,
            PRIMARY KEY (run_id, key)) WITHOUT ROWID;
        CREATE TABLE tags (
            run_id TEXT NOT NULL REFERENCES runs(id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, key)) WITHOUT ROWID;
        CREATE TABLE artifacts (
            run_id TEXT NOT NULL REFERENCES runs(id),
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            logged_time INTEGER NOT NULL,
            PRIMARY KEY (run_id, path)) WITHOUT ROWID;
        """,
        // Which local run is which run on an MLflow server, and what has been sent there, so that
        // `runs sync` sends exactly what is missing. metrics_sent counts a run's metric rows in rowid order.
        """
        CREATE TABLE mlflow_runs (
            run_id TEXT NOT NULL REFERENCES runs(id),
            server TEXT NOT NULL,
            remote_run_id TEXT NOT NULL,
            experiment_id TEXT NOT NULL,
            artifact_uri TEXT NOT NULL,
            metrics_sent INTEGER NOT NULL DEFAULT 0,
            status_sent TEXT NOT NULL,
            PRIMARY KEY (run_id, server)) WITHOUT ROWID;
        CREATE TABLE mlflow_sent (
            run_id TEXT NOT NULL,
            server TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('param', 'tag', 'artifact')),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, server, kind, key),
            FOREIGN KEY (run_id, server) REFERENCES mlflow_runs(run_id, server)) WITHOUT ROWID;
        """,
        // 3: soft delete (MLflow's lifecycle stage: NULL = active) and fast lookup of child runs.
        """
        ALTER TABLE runs ADD COLUMN deleted_time INTEGER;
        CREATE INDEX runs_by_parent ON runs(parent_run_id);
        """,
        // 4: param keys spelled as MLflow accepts them (stages[0].epochs -> stages.0.epochs, see ParamKeys;
        // a key that would clash with an existing one is left as it was), and what an MLflow server refused:
        // a param or tag (key and value) is not sent again until its value changes; for a metric key
        // (value '') none of its points is sent again.
        """
        UPDATE OR IGNORE params SET key = replace(replace(key, '[', '.'), ']', '') WHERE key GLOB '*[[]*';
        CREATE TABLE mlflow_skipped (
            run_id TEXT NOT NULL,
            server TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('param', 'tag', 'metric')),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (run_id, server, kind, key),
            FOREIGN KEY (run_id, server) REFERENCES mlflow_runs(run_id, server)) WITHOUT ROWID;
        """,
    ];

    public static int CurrentVersion => Migrations.Length;

    /// <summary>Checks the file, creates or migrates the schema, and returns an open connection.</summary>
    public static SqliteConnection OpenAndMigrate(string databasePath)
    {
        RejectForeignFile(databasePath);
        var connection = Open(databasePath);
        try
        {
            using (var wal = connection.CreateCommand())
            {
                wal.CommandText = "PRAGMA journal_mode = WAL;";
                wal.ExecuteNonQuery();
            }
            Migrate(connection, databasePath);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Whether SQLite opened the database read-only: the file is not writable by this user (SQLite then opens it
    /// read-only instead of failing, and every write fails with SQLite Error 8).</summary>
    public static bool IsReadOnly(SqliteConnection connection) => SQLitePCL.raw.sqlite3_db_readonly(connection.Handle, "main") == 1;

    /// <summary>The message for an attempt to <paramref name="action"/> in a store that is read-only for this user.</summary>
    public static string ReadOnlyMessage(string databasePath, string action) =>
        $"{databasePath}: the run store is read-only for this user, so it cannot {action}; use a store you can write to (--store DIR)";

    /// <summary>A read-write connection to a store that <see cref="OpenAndMigrate"/> has checked.</summary>
    public static SqliteConnection Open(string databasePath)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // Pooled connections would keep the file open after Dispose.
            Pooling = false,
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            using var pragmas = connection.CreateCommand();
            pragmas.CommandText = $"""
                PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds};
                PRAGMA foreign_keys = ON;
                PRAGMA synchronous = NORMAL;
                """;
            pragmas.ExecuteNonQuery();
            return connection;
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            if (DiskFull.Is(e) || DiskFull.NoRoomFor(databasePath))
                throw DiskFull.InDatabase(databasePath, e);
            throw new InvalidInputException($"{databasePath}: cannot open the run store database: {e.Message}", e);
        }
    }

    private static void RejectForeignFile(string databasePath)
    {
        var file = new FileInfo(databasePath);
        if (!file.Exists || file.Length == 0)
            return; // SQLite creates the database in an empty file
        if (!HasSqliteHeader(databasePath))
            throw new InvalidInputException($"{databasePath}: not a SQLite database, so not a Distill run store; the file was left unchanged");

        var builder = new SqliteConnectionStringBuilder { DataSource = databasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        try
        {
            using var connection = new SqliteConnection(builder.ToString());
            connection.Open();
            long applicationId = Scalar(connection, "PRAGMA application_id;");
            long userVersion = Scalar(connection, "PRAGMA user_version;");
            long objects = Scalar(connection, "SELECT count(*) FROM sqlite_master;");
            bool blank = applicationId == 0 && userVersion == 0 && objects == 0;
            if (applicationId != ApplicationId && !blank)
                throw new InvalidInputException(
                    $"{databasePath}: a SQLite database that is not a Distill run store (application_id {applicationId}, " +
                    $"{objects} schema objects); the file was left unchanged");
            if (userVersion > CurrentVersion)
                throw new InvalidInputException(
                    $"{databasePath}: the run store has schema version {userVersion}, written by a newer Distill; " +
                    $"this version reads up to {CurrentVersion}");
        }
        catch (SqliteException e) when (DiskFull.Is(e) || DiskFull.NoRoomFor(databasePath))
        {
            throw DiskFull.InDatabase(databasePath, e);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is SqliteReadOnly or SqliteCantOpen)
        {
            throw new InvalidInputException(
                $"{databasePath}: cannot open the run store: its folder is read-only for this user ({e.Message}); SQLite writes beside the database even to read it", e);
        }
        catch (SqliteException e)
        {
            throw new InvalidInputException($"{databasePath}: cannot be read as a Distill run store ({e.Message}); the file was left unchanged", e);
        }
    }

    private static bool HasSqliteHeader(string path)
    {
        var header = new byte[SqliteHeader.Length];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) == header.Length
            && header.AsSpan().SequenceEqual(SqliteHeader);
    }

    private static void Migrate(SqliteConnection connection, string databasePath)
    {
        // BEGIN IMMEDIATE: two processes creating the same store take turns, and the second
        // sees the version the first one wrote.
        using var transaction = connection.BeginTransaction(deferred: false);
        long version = Scalar(connection, "PRAGMA user_version;");
        if (version > CurrentVersion)
            throw new InvalidInputException(
                $"{databasePath}: the run store has schema version {version}, written by a newer Distill; this version reads up to {CurrentVersion}");
        for (long v = version; v < CurrentVersion; v++)
        {
            using var command = connection.CreateCommand();
            command.CommandText = Migrations[v] + $"\nPRAGMA user_version = {v + 1};";
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L);
    }
}
