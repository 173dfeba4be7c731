namespace Distill.Core.Tracking;

/// <summary>
/// Records one run: parameters, metric curves, tags, artifacts and the final status.
/// All methods are thread-safe. Dispose without <see cref="End"/> leaves the run RUNNING.
/// </summary>
public interface ITracker : IDisposable
{
    string RunId { get; }

    /// <summary>&lt;store&gt;/artifacts/&lt;runId&gt; (exists).</summary>
    string ArtifactDirectory { get; }

    /// <summary>Parameters are write-once: logging a key again with the same value is a no-op, a different value is an error.</summary>
    void LogParams(IReadOnlyDictionary<string, string> parameters);

    /// <summary>Buffered in memory and written in batches; cheap enough for every training step.</summary>
    void LogMetric(string key, double value, long step);

    /// <summary>Commits the buffered metrics now: once this returns they survive a kill -9. A checkpoint is
    /// written only after this, so that it never runs ahead of the metrics.</summary>
    void Flush();

    void SetTag(string key, string value);

    /// <summary>Copies the file (temp file + rename) to ArtifactDirectory/artifactPath (default: the file name) and registers it.</summary>
    void LogArtifact(string localPath, string? artifactPath = null);

    /// <summary>Registers a file that the caller already wrote under <see cref="ArtifactDirectory"/>.</summary>
    void RegisterArtifact(string artifactPath);

    /// <summary>Flushes metrics, sets the end time and status; a non-null error is stored as tag "error". When the
    /// store's disk is full, a FAILED or KILLED end is kept in the run's folder instead and the next command that
    /// opens the store applies it.</summary>
    void End(RunStatus status, string? error = null);
}
