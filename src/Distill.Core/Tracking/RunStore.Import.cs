using Microsoft.Data.Sqlite;

namespace Distill.Core.Tracking;

/// <param name="Added">Runs that were not in this store.</param>
/// <param name="Updated">Runs this store had in an older state (the source's copy changed later), replaced by the source's.</param>
/// <param name="Unchanged">Runs this store already had as they are in the source, or in a later state.</param>
public sealed record ImportResult(IReadOnlyList<string> Added, IReadOnlyList<string> Updated, int Unchanged);

public sealed partial class RunStore
{
    /// <summary>
    /// Copies the runs of another store into this one under the same ids: status, times, parent, params, metric
    /// histories, tags and artifact files (the whole artifact folder of each run, registered or not, so that a
    /// copied run can be resumed from here). Experiments are matched by name. Idempotent: a run this store already
    /// has is replaced only when the source's copy changed later (its end time or heartbeat is newer), so importing
    /// the same store twice changes nothing, and importing it again after its runs went on brings their new state.
    /// What was sent to an MLflow server is not copied: that record belongs to the store that sent it.
    /// </summary>
    /// <param name="sourceDirectory">The other store's folder.</param>
    /// <param name="onlyRunIds">Copy only these runs (full ids); null = every run of the source.</param>
    public ImportResult Import(string sourceDirectory, IReadOnlyCollection<string>? onlyRunIds = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceDirectory);
        RequireWritable("import runs");
        string source = Path.GetFullPath(sourceDirectory);
        if (string.Equals(Path.TrimEndingDirectorySeparator(source), Path.TrimEndingDirectorySeparator(Directory), StringComparison.Ordinal))
            throw new InvalidInputException($"{source}: is the store being imported into; give another store");
        string sourceDatabase = Path.Combine(source, StoreSchema.DatabaseFileName);
        if (!File.Exists(sourceDatabase))
            throw new InvalidInputException($"{source}: not a run store (it has no {StoreSchema.DatabaseFileName})");
        // Opening checks that it is a Distill store, brings its schema up to date and ends its abandoned runs, so
        // that what is copied is what `runs list` would show for it.
        using (Open(source))
        {
        }

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Sql.Execute(_connection, "ATTACH DATABASE @path AS src;", ("@path", sourceDatabase));
            try
            {
                return ImportAttached(source, onlyRunIds);
            }
            finally
            {
                Sql.Execute(_connection, "DETACH DATABASE src;");
            }
        }
    }

    private ImportResult ImportAttached(string source, IReadOnlyCollection<string>? onlyRunIds)
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        // A child may come before its parent in the copy; the links are checked when the transaction commits.
        Sql.Execute(_connection, "PRAGMA defer_foreign_keys = ON;");
        Sql.Execute(_connection, "CREATE TEMP TABLE IF NOT EXISTS import_ids (id TEXT PRIMARY KEY, is_new INTEGER NOT NULL); DELETE FROM temp.import_ids;");
        // A run's last change: its end, or its last heartbeat while it ran (a resumed run beats both).
        Sql.Execute(_connection,
            """
            INSERT INTO temp.import_ids (id, is_new)
            SELECT s.id, d.id IS NULL FROM src.runs s LEFT JOIN main.runs d ON d.id = s.id
            WHERE d.id IS NULL OR max(coalesce(s.end_time, 0), s.heartbeat) > max(coalesce(d.end_time, 0), d.heartbeat);
            """);
        if (onlyRunIds is not null)
        {
            Sql.Execute(_connection, "CREATE TEMP TABLE IF NOT EXISTS import_only (id TEXT PRIMARY KEY); DELETE FROM temp.import_only;");
            foreach (string id in onlyRunIds)
                Sql.Execute(_connection, "INSERT OR IGNORE INTO temp.import_only (id) VALUES (@id);", ("@id", id));
            Sql.Execute(_connection, "DELETE FROM temp.import_ids WHERE id NOT IN (SELECT id FROM temp.import_only);");
        }
        long total = ScalarLong("SELECT count(*) FROM src.runs;");
        var added = ReadIds("SELECT id FROM temp.import_ids WHERE is_new = 1 ORDER BY id;");
        var updated = ReadIds("SELECT id FROM temp.import_ids WHERE is_new = 0 ORDER BY id;");
        int considered = onlyRunIds is null ? (int)total : (int)ScalarLong("SELECT count(*) FROM src.runs WHERE id IN (SELECT id FROM temp.import_only);");

        Sql.Execute(_connection,
            """
            INSERT INTO main.experiments (name, created_time)
            SELECT e.name, e.created_time FROM src.experiments e
            WHERE e.id IN (SELECT experiment_id FROM src.runs WHERE id IN (SELECT id FROM temp.import_ids))
            ON CONFLICT (name) DO NOTHING;
            """);
        foreach (string table in new[] { "params", "metrics", "latest_metrics", "tags", "artifacts" })
            Sql.Execute(_connection, $"DELETE FROM main.{table} WHERE run_id IN (SELECT id FROM temp.import_ids);");
        Sql.Execute(_connection,
            """
            INSERT INTO main.runs (id, experiment_id, name, status, start_time, end_time, parent_run_id, pid, host, process_start_time, heartbeat, deleted_time)
            SELECT s.id, (SELECT d.id FROM main.experiments d JOIN src.experiments e ON e.name = d.name WHERE e.id = s.experiment_id),
                   s.name, s.status, s.start_time, s.end_time, s.parent_run_id, s.pid, s.host, s.process_start_time, s.heartbeat, s.deleted_time
            FROM src.runs s WHERE s.id IN (SELECT id FROM temp.import_ids)
            ON CONFLICT (id) DO UPDATE SET experiment_id = excluded.experiment_id, name = excluded.name, status = excluded.status,
                start_time = excluded.start_time, end_time = excluded.end_time, parent_run_id = excluded.parent_run_id, pid = excluded.pid,
                host = excluded.host, process_start_time = excluded.process_start_time, heartbeat = excluded.heartbeat,
                deleted_time = excluded.deleted_time;
            """);
        const string Chosen = "WHERE run_id IN (SELECT id FROM temp.import_ids)";
        Sql.Execute(_connection, $"INSERT INTO main.params (run_id, key, value) SELECT run_id, key, value FROM src.params {Chosen};");
        Sql.Execute(_connection, $"INSERT INTO main.metrics (run_id, key, step, value, timestamp) SELECT run_id, key, step, value, timestamp FROM src.metrics {Chosen} ORDER BY rowid;");
        Sql.Execute(_connection, $"INSERT INTO main.latest_metrics (run_id, key, step, value, timestamp) SELECT run_id, key, step, value, timestamp FROM src.latest_metrics {Chosen};");
        Sql.Execute(_connection, $"INSERT INTO main.tags (run_id, key, value) SELECT run_id, key, value FROM src.tags {Chosen};");
        Sql.Execute(_connection, $"INSERT INTO main.artifacts (run_id, path, size, logged_time) SELECT run_id, path, size, logged_time FROM src.artifacts {Chosen};");

        var missingParents = ReadIds(
            """
            SELECT DISTINCT r.parent_run_id FROM main.runs r
            WHERE r.id IN (SELECT id FROM temp.import_ids) AND r.parent_run_id IS NOT NULL
              AND r.parent_run_id NOT IN (SELECT id FROM main.runs);
            """);
        if (missingParents.Count > 0)
            throw new InvalidInputException(
                $"{source}: run(s) whose parent run {string.Join(", ", missingParents)} is neither in this store nor imported with them; import the parent's store first, or without --run");

        foreach (string id in added.Concat(updated))
            CopyFolder(ArtifactPaths.RunDirectory(source, id), ArtifactPaths.RunDirectory(Directory, id));
        try
        {
            transaction.Commit();
        }
        catch (SqliteException e) when (DiskFull.Is(e))
        {
            throw DiskFull.InDatabase(_databasePath, e);
        }
        return new ImportResult(added, updated, considered - added.Count - updated.Count);
    }

    /// <summary>Copies every regular file under <paramref name="from"/> (symbolic links are not followed) over what is in <paramref name="to"/>.</summary>
    private static void CopyFolder(string from, string to)
    {
        if (!System.IO.Directory.Exists(from))
            return;
        foreach (string file in System.IO.Directory.EnumerateFiles(from, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }

    private List<string> ReadIds(string sql)
    {
        using var command = Sql.Command(_connection, sql);
        using var reader = command.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read())
            ids.Add(reader.GetString(0));
        return ids;
    }

    private long ScalarLong(string sql)
    {
        using var command = Sql.Command(_connection, sql);
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }
}
