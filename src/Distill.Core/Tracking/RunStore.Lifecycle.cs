namespace Distill.Core.Tracking;

/// <summary>Which runs <see cref="RunStore.FindRuns"/> returns.</summary>
public sealed record RunSelection
{
    /// <summary>Only runs of this experiment; null = every experiment.</summary>
    public string? Experiment { get; init; }

    /// <summary>Include child runs (the phases of a recipe run); false = top-level runs only.</summary>
    public bool IncludeChildren { get; init; } = true;

    /// <summary>Deleted runs instead of active ones.</summary>
    public bool Deleted { get; init; }
}

/// <param name="Runs">Top-level runs that are not deleted (what `runs list` shows).</param>
/// <param name="ChildRuns">Runs under them that are not deleted (the phases of recipe runs).</param>
/// <param name="DeletedRuns">Deleted top-level runs (what `runs list --deleted` shows).</param>
public sealed record ExperimentRecord(string Name, DateTimeOffset CreatedTime, int Runs, int ChildRuns, int DeletedRuns);

/// <param name="Size">The file's size on disk now, or the size recorded when it was registered if the file is missing.</param>
/// <param name="Missing">The file is no longer in the run's artifact folder.</param>
public sealed record ArtifactRecord(string Path, long Size, DateTimeOffset LoggedTime, bool Missing = false);

/// <summary>Selection, soft deletion, experiments and artifact listings.</summary>
public sealed partial class RunStore
{
    /// <summary>Runs matching the selection, newest first.</summary>
    public IReadOnlyList<RunRecord> FindRuns(RunSelection selection)
    {
        ArgumentNullException.ThrowIfNull(selection);
        string filter = selection.Deleted ? "r.deleted_time IS NOT NULL" : "r.deleted_time IS NULL";
        if (!selection.IncludeChildren)
            filter += " AND r.parent_run_id IS NULL";
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return selection.Experiment is null
                ? LoadRuns(filter)
                : LoadRuns(filter + " AND e.name = @experiment", ("@experiment", selection.Experiment));
        }
    }

    /// <summary>The direct children of a run that are not deleted, oldest first.</summary>
    public IReadOnlyList<RunRecord> GetChildRuns(string runId)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(runId);
            var children = LoadRuns("r.parent_run_id = @id AND r.deleted_time IS NULL", ("@id", id)).ToList();
            children.Reverse();
            return children;
        }
    }

    /// <summary>
    /// The runs and all their descendants (child runs, their children, …), each once, oldest first so that
    /// a parent comes before its children; deleted descendants too when <paramref name="includeDeleted"/>.
    /// </summary>
    public IReadOnlyList<RunRecord> WithDescendants(IEnumerable<RunRecord> runs, bool includeDeleted)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var chosen = runs.ToDictionary(r => r.Id);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (string id in chosen.Keys.ToList())
            {
                var missing = Descendants(id).Where(d => !chosen.ContainsKey(d)).ToList();
                if (missing.Count == 0)
                    continue;
                string filter = $"r.id IN ({InList(missing)})" + (includeDeleted ? "" : " AND r.deleted_time IS NULL");
                foreach (var run in LoadRuns(filter))
                    chosen[run.Id] = run;
            }
        }
        return chosen.Values.OrderBy(r => r.StartTime).ThenBy(r => r.ParentRunId is null ? 0 : 1).ToList();
    }

    /// <summary>
    /// Hides a run and its descendants from listings (their data and artifacts stay until restored).
    /// A running run cannot be deleted. Returns the ids deleted.
    /// </summary>
    public IReadOnlyList<string> DeleteRun(string idOrPrefix)
    {
        RequireWritable("delete a run");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(idOrPrefix);
            using var transaction = _connection.BeginTransaction();
            var run = LoadRuns("r.id = @id", ("@id", id)).Single();
            if (run.DeletedTime is not null)
                throw new InvalidInputException($"run {id} is already deleted; 'distill runs restore {id[..8]}' brings it back");
            var family = Descendants(id);
            if (LoadRuns($"r.id IN ({InList(family)}) AND r.status = 'RUNNING'").FirstOrDefault() is { } running)
                throw new InvalidInputException($"run {running.Id} ({running.Name}) is still running; a running run cannot be deleted");
            Sql.Execute(_connection, $"UPDATE runs SET deleted_time = @now WHERE id IN ({InList(family)}) AND deleted_time IS NULL;",
                ("@now", Sql.NowMs()));
            transaction.Commit();
            return family;
        }
    }

    /// <summary>Brings back a deleted run and the descendants deleted with it. Returns the ids restored.</summary>
    public IReadOnlyList<string> RestoreRun(string idOrPrefix)
    {
        RequireWritable("restore a run");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(idOrPrefix);
            using var transaction = _connection.BeginTransaction();
            var run = LoadRuns("r.id = @id", ("@id", id)).Single();
            if (run.DeletedTime is not { } deleted)
                throw new InvalidInputException($"run {id} is not deleted; nothing to restore");
            var family = Descendants(id);
            var restored = new List<string>();
            foreach (string member in family)
            {
                // A descendant deleted on its own, earlier, stays deleted.
                if (Sql.Execute(_connection, "UPDATE runs SET deleted_time = NULL WHERE id = @id AND deleted_time = @deleted;",
                        ("@id", member), ("@deleted", deleted.ToUnixTimeMilliseconds())) == 1)
                    restored.Add(member);
            }
            transaction.Commit();
            return restored;
        }
    }

    /// <summary>Experiments by name, with their numbers of top-level runs, child runs and deleted top-level runs.</summary>
    public IReadOnlyList<ExperimentRecord> ListExperiments()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var command = Sql.Command(_connection,
                """
                SELECT e.name, e.created_time,
                       (SELECT count(*) FROM runs r WHERE r.experiment_id = e.id AND r.deleted_time IS NULL AND r.parent_run_id IS NULL),
                       (SELECT count(*) FROM runs r WHERE r.experiment_id = e.id AND r.deleted_time IS NULL AND r.parent_run_id IS NOT NULL),
                       (SELECT count(*) FROM runs r WHERE r.experiment_id = e.id AND r.deleted_time IS NOT NULL AND r.parent_run_id IS NULL)
                FROM experiments e ORDER BY e.name;
                """);
            using var reader = command.ExecuteReader();
            var experiments = new List<ExperimentRecord>();
            while (reader.Read())
            {
                experiments.Add(new ExperimentRecord(reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                    reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4)));
            }
            return experiments;
        }
    }

    /// <summary>Refuses an experiment name the store does not have, listing the ones it has.</summary>
    public void RequireExperiment(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var experiments = ListExperiments();
        if (experiments.Any(e => e.Name == name))
            return;
        throw new InvalidInputException(
            $"experiment '{TrackingNames.Printable(name)}' does not exist in store {Directory}; " +
            (experiments.Count == 0 ? "the store has no experiments yet" : "its experiments: " + string.Join(", ", experiments.Select(e => e.Name))));
    }

    public void CreateExperiment(string name)
    {
        TrackingNames.ValidateName("experiment name", name);
        RequireWritable("create an experiment");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int created = Sql.Execute(_connection,
                "INSERT INTO experiments (name, created_time) VALUES (@name, @now) ON CONFLICT (name) DO NOTHING;",
                ("@name", name), ("@now", Sql.NowMs()));
            if (created == 0)
                throw new InvalidInputException($"experiment '{TrackingNames.Printable(name)}' already exists in {_databasePath}");
        }
    }

    /// <summary>Renames an experiment; its runs follow.</summary>
    public void RenameExperiment(string name, string newName)
    {
        ArgumentNullException.ThrowIfNull(name);
        TrackingNames.ValidateName("experiment name", newName);
        RequireWritable("rename an experiment");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var transaction = _connection.BeginTransaction();
            if (!ExperimentExists(name))
            {
                var known = ListExperimentNames();
                throw new InvalidInputException($"no experiment '{TrackingNames.Printable(name)}' in {_databasePath}; experiments: " +
                    (known.Count == 0 ? "none" : string.Join(", ", known)));
            }
            if (ExperimentExists(newName))
                throw new InvalidInputException($"experiment '{TrackingNames.Printable(newName)}' already exists in {_databasePath}");
            Sql.Execute(_connection, "UPDATE experiments SET name = @new WHERE name = @old;", ("@new", newName), ("@old", name));
            transaction.Commit();
        }
    }

    /// <summary>
    /// The registered artifacts of a run with their sizes, by path. Sizes are read from the files: the size recorded
    /// at registration goes stale for a file that grows afterwards (the run's log is registered when the run starts
    /// and written until the process ends, also after the run ended and after a kill), so it is only the fallback
    /// for a missing file.
    /// </summary>
    public IReadOnlyList<ArtifactRecord> ListArtifacts(string runId)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(runId);
            using var command = Sql.Command(_connection,
                "SELECT path, size, logged_time FROM artifacts WHERE run_id = @id ORDER BY path;", ("@id", id));
            using var reader = command.ExecuteReader();
            var artifacts = new List<ArtifactRecord>();
            while (reader.Read())
            {
                string path = reader.GetString(0);
                var file = new FileInfo(ArtifactFile(id, path));
                var logged = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2));
                artifacts.Add(file.Exists ? new ArtifactRecord(path, file.Length, logged) : new ArtifactRecord(path, reader.GetInt64(1), logged, Missing: true));
            }
            return artifacts;
        }
    }

    /// <summary>The run and all its descendants (children, their children, …), the run first.</summary>
    private List<string> Descendants(string id)
    {
        using var command = Sql.Command(_connection,
            """
            WITH RECURSIVE family(id) AS (
                SELECT @id
                UNION SELECT r.id FROM runs r JOIN family f ON r.parent_run_id = f.id)
            SELECT id FROM family;
            """,
            ("@id", id));
        using var reader = command.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read())
            ids.Add(reader.GetString(0));
        return ids;
    }

    /// <summary>Run ids are validated lowercase hex, so they can be inlined in an IN list.</summary>
    private static string InList(IEnumerable<string> ids) =>
        string.Join(", ", ids.Select(id => id.All(char.IsAsciiHexDigitLower) ? $"'{id}'" : throw new ArgumentException($"not a run id: {id}")));

    private bool ExperimentExists(string name)
    {
        using var command = Sql.Command(_connection, "SELECT count(*) FROM experiments WHERE name = @name;", ("@name", name));
        return Convert.ToInt64(command.ExecuteScalar()) > 0;
    }

    private List<string> ListExperimentNames()
    {
        using var command = Sql.Command(_connection, "SELECT name FROM experiments ORDER BY name;");
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
            names.Add(reader.GetString(0));
        return names;
    }
}

public sealed partial class RunStore
{
    /// <summary>Ends a run that is still RUNNING although its process is known to be gone (a batch task the scheduler
    /// cancelled or killed before the run could end itself), with the reason as its "error" tag. A run that ended
    /// meanwhile is left as it is; returns whether this call ended it.</summary>
    public bool EndAbandonedRun(string runId, RunStatus status, string error)
    {
        ArgumentOutOfRangeException.ThrowIfEqual(status, RunStatus.Running);
        RequireWritable("end a run");
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(runId);
            using var transaction = _connection.BeginTransaction();
            int changed = Sql.Execute(_connection, "UPDATE runs SET status = @status, end_time = @now WHERE id = @id AND status = 'RUNNING';",
                ("@status", RunStatusText.ToText(status)), ("@now", Sql.NowMs()), ("@id", id));
            if (changed == 1)
                Sql.Execute(_connection,
                    "INSERT INTO tags (run_id, key, value) VALUES (@id, 'error', @error) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value;",
                    ("@id", id), ("@error", error));
            transaction.Commit();
            return changed == 1;
        }
    }
}
