using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Distill.Core.Tracking;

/// <summary>
/// Brings a run's metric history back to where a checkpoint left it. A run logs its points in a fixed order,
/// so "the first n points of each run, in the order they were written" is exactly the history up to a
/// checkpoint: the checkpoint records n for the run and each of its child runs (<see cref="MetricCounts"/>), and
/// a resume drops the points after them (<see cref="TruncateMetrics"/>), which the redone epochs log again.
/// Written order is rowid order: a new row's rowid is above every row present, and the run's earlier rows are.
/// </summary>
public sealed partial class RunStore
{
    /// <summary>How many metric points the run and each of its descendants have, by run id.</summary>
    public IReadOnlyDictionary<string, long> MetricCounts(string runId)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(runId);
            var counts = new Dictionary<string, long>();
            foreach (string member in Descendants(id))
            {
                using var command = Sql.Command(_connection, "SELECT count(*) FROM metrics WHERE run_id = @id;", ("@id", member));
                counts[member] = Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
            }
            return counts;
        }
    }

    /// <summary>
    /// Keeps the first <paramref name="counts"/>[id] points of the run and of each descendant (none for one
    /// that is not listed, i.e. started after the counts were taken) and deletes the rest; latest values
    /// follow. For the owner of the run, after <see cref="ResumeRun"/>. Returns the number of points deleted.
    /// </summary>
    public long TruncateMetrics(string runId, IReadOnlyDictionary<string, long> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string id = ResolveRunId(runId);
            try
            {
                using var transaction = _connection.BeginTransaction(deferred: false);
                long deleted = 0;
                foreach (string member in Descendants(id))
                {
                    int removed = Sql.Execute(_connection,
                        """
                        DELETE FROM metrics WHERE rowid IN (
                            SELECT rowid FROM metrics WHERE run_id = @id ORDER BY rowid LIMIT -1 OFFSET @keep);
                        """,
                        ("@id", member), ("@keep", counts.GetValueOrDefault(member)));
                    if (removed > 0)
                    {
                        RebuildLatestMetrics(member);
                        // An MLflow server counts the rows it was sent; the redone points take the dropped rows'
                        // places, so they are sent too (the server keeps the dropped ones: MLflow cannot delete points).
                        Sql.Execute(_connection, "UPDATE mlflow_runs SET metrics_sent = min(metrics_sent, @keep) WHERE run_id = @id;",
                            ("@id", member), ("@keep", counts.GetValueOrDefault(member)));
                    }
                    deleted += removed;
                }
                transaction.Commit();
                return deleted;
            }
            catch (SqliteException e) when (DiskFull.Is(e))
            {
                throw DiskFull.InDatabase(_databasePath, e);
            }
        }
    }

    /// <summary>latest_metrics from the history, with the rule the tracker applies as points arrive: the highest
    /// step wins, then the latest timestamp, then the point written last.</summary>
    private void RebuildLatestMetrics(string runId)
    {
        Sql.Execute(_connection, "DELETE FROM latest_metrics WHERE run_id = @id;", ("@id", runId));
        Sql.Execute(_connection,
            """
            INSERT INTO latest_metrics (run_id, key, step, value, timestamp)
            SELECT run_id, key, step, value, timestamp FROM (
                SELECT run_id, key, step, value, timestamp,
                       row_number() OVER (PARTITION BY key ORDER BY step DESC, timestamp DESC, rowid DESC) AS rank
                FROM metrics WHERE run_id = @id)
            WHERE rank = 1;
            """,
            ("@id", runId));
    }
}
