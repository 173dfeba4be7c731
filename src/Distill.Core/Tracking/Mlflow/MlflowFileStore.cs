using System.Globalization;
using System.Text;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>What <see cref="MlflowFileStore.Export"/> wrote: the folder of each run by run id, and what it left out.</summary>
/// <param name="Skipped">Keys MLflow's file store could not read back (names it refuses), one line each.</param>
public sealed record MlflowExportResult(IReadOnlyDictionary<string, string> Runs, IReadOnlyList<string> Skipped);

/// <summary>
/// Writes runs in the layout of MLflow's file store (the mlruns/ folder that `mlflow server
/// --backend-store-uri DIR`, `mlflow migrate-filestore` and older MLflow UIs read), as
/// mlflow/store/tracking/file_store.py lays it out: experiment 0 "Default" and the .trash folder
/// (deleted experiments), DIR/&lt;experiment id&gt;/meta.yaml, DIR/&lt;experiment id&gt;/&lt;run id&gt;/meta.yaml
/// (a deleted run stays in its experiment with lifecycle_stage deleted and its deleted_time),
/// metrics/&lt;key&gt; (one "timestamp value step" line per point), params/&lt;key&gt;, tags/&lt;key&gt; and
/// artifacts/. Keys with '/' become sub-folders, as in MLflow. A run is written to a temporary folder
/// and moved into place, replacing an earlier export of the same run (in whatever experiment), so
/// exporting again duplicates nothing. Experiments already in DIR are matched by name; new ones get
/// the next free numeric id.
/// </summary>
public static class MlflowFileStore
{
    public const string DefaultExperimentId = "0";
    public const string DefaultExperimentName = "Default";
    public const string TrashFolder = ".trash";

    /// <summary>MLflow's RunStatus enum values.</summary>
    public static int StatusCode(RunStatus status) => status switch
    {
        RunStatus.Running => 1,
        RunStatus.Finished => 3,
        RunStatus.Failed => 4,
        RunStatus.Killed => 5,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unknown run status"),
    };

    /// <summary>Source type LOCAL in MLflow's SourceType enum.</summary>
    private const int LocalSourceType = 4;

    private sealed record ExperimentFolder(string Id, string Name, bool Deleted);

    /// <summary>Exports the runs (select them with <see cref="RunStore.WithDescendants"/> to take child runs along).</summary>
    public static MlflowExportResult Export(RunStore store, IEnumerable<RunRecord> runs, string directory)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(runs);
        string root = Path.GetFullPath(directory);
        if (File.Exists(root))
            throw new InvalidInputException($"{root}: is a file; --mlflow-dir needs a folder (MLflow's mlruns)");
        var selected = runs.ToList();
        // Checked before anything is written: an artifact that a symbolic link leads out of its run's folder refuses the export.
        var artifacts = selected.ToDictionary(r => r.Id, r => ArtifactFiles(store, r));
        var folders = ReadExperiments(root);
        foreach (string name in selected.Select(r => r.Experiment).Distinct())
        {
            if (!folders.Any(f => f.Name == name && !f.Deleted) && folders.FirstOrDefault(f => f.Name == name) is { } deleted)
            {
                throw new InvalidInputException(
                    $"{root}: experiment '{TrackingNames.Printable(name)}' is deleted there ({TrashFolder}/{deleted.Id}); restore it " +
                    $"(mlflow experiments restore --experiment-id {deleted.Id}) or remove it from {TrashFolder}, then export again");
            }
        }

        Directory.CreateDirectory(Path.Combine(root, TrashFolder));
        if (!folders.Any(f => f.Id == DefaultExperimentId))
        {
            WriteExperiment(root, DefaultExperimentId, DefaultExperimentName, Sql.NowMs());
            folders.Add(new ExperimentFolder(DefaultExperimentId, DefaultExperimentName, Deleted: false));
        }
        var ids = folders.Where(f => !f.Deleted).GroupBy(f => f.Name).ToDictionary(g => g.Key, g => g.First().Id, StringComparer.Ordinal);
        var written = new Dictionary<string, string>();
        var skipped = new List<string>();
        foreach (var run in selected)
        {
            if (!ids.TryGetValue(run.Experiment, out string? experimentId))
            {
                experimentId = NextExperimentId(root);
                WriteExperiment(root, experimentId, run.Experiment, run.StartTime.ToUnixTimeMilliseconds());
                ids[run.Experiment] = experimentId;
            }
            written[run.Id] = WriteRun(store, run, artifacts[run.Id], root, experimentId, skipped);
        }
        return new MlflowExportResult(written, skipped);
    }

    /// <summary>The files of the run's artifacts by artifact path; one registered but deleted since is left out.</summary>
    private static List<(string Artifact, string File)> ArtifactFiles(RunStore store, RunRecord run) =>
        run.Artifacts.Select(a => (a, store.ArtifactFile(run.Id, a))).Where(a => File.Exists(a.Item2)).ToList();

    private static string WriteRun(RunStore store, RunRecord run, List<(string Artifact, string File)> artifactFiles, string root, string experimentId,
        List<string> skipped)
    {
        string final = Path.Combine(root, experimentId, run.Id);
        string staging = Path.Combine(root, experimentId, $".{run.Id}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        try
        {
            string artifacts = Path.Combine(staging, "artifacts");
            Directory.CreateDirectory(artifacts);
            foreach (var (artifact, source) in artifactFiles)
            {
                string target = KeyPath(artifacts, artifact);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(source, target);
            }

            Directory.CreateDirectory(Path.Combine(staging, "metrics"));
            Directory.CreateDirectory(Path.Combine(staging, "params"));
            Directory.CreateDirectory(Path.Combine(staging, "tags"));
            foreach (string key in Readable(run, "metric", run.Metrics.Keys, skipped))
            {
                var lines = new StringBuilder();
                foreach (var point in store.GetMetricHistory(run.Id, key))
                    lines.Append(CultureInfo.InvariantCulture, $"{point.Timestamp.ToUnixTimeMilliseconds()} {FormatValue(point.Value)} {point.Step}\n");
                WriteKeyFile(staging, "metrics", key, lines.ToString());
            }
            foreach (string key in Readable(run, "param", run.Params.Keys, skipped))
                WriteKeyFile(staging, "params", key, run.Params[key]);
            var tags = Tags(run);
            foreach (string key in Readable(run, "tag", tags.Keys, skipped))
                WriteKeyFile(staging, "tags", key, tags[key]);

            MlflowMetaYaml.Write(Path.Combine(staging, MlflowMetaYaml.FileName), new Dictionary<string, object?>
            {
                ["artifact_uri"] = new Uri(Path.Combine(final, "artifacts")).AbsoluteUri,
                ["deleted_time"] = run.DeletedTime?.ToUnixTimeMilliseconds(),
                ["end_time"] = run.EndTime?.ToUnixTimeMilliseconds(),
                ["entry_point_name"] = "",
                ["experiment_id"] = experimentId,
                ["lifecycle_stage"] = run.DeletedTime is null ? "active" : "deleted",
                ["run_id"] = run.Id,
                ["run_name"] = run.Name,
                ["run_uuid"] = run.Id,
                ["source_name"] = "",
                ["source_type"] = LocalSourceType,
                ["source_version"] = "",
                ["start_time"] = run.StartTime.ToUnixTimeMilliseconds(),
                ["status"] = StatusCode(run.Status),
                ["tags"] = Array.Empty<string>(),
                ["user_id"] = MlflowSystemTags.CurrentUser,
            });

            RemoveExportedCopies(root, run.Id);
            Directory.Move(staging, final);
            return final;
        }
        catch
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>The keys MLflow's file store reads back (it validates every file name as a metric, param or tag name); the rest are noted.</summary>
    private static IEnumerable<string> Readable(RunRecord run, string kind, IEnumerable<string> keys, List<string> skipped)
    {
        foreach (string key in keys.Order(StringComparer.Ordinal))
        {
            if (TrackingNames.KeyProblem(key) is { } problem)
                skipped.Add($"run {run.Id}: {kind} '{TrackingNames.Printable(key)}' left out: MLflow refuses the name (it {problem})");
            else
                yield return key;
        }
    }

    /// <summary>An earlier export of the run, in whatever experiment (its experiment may have been renamed since).</summary>
    private static void RemoveExportedCopies(string root, string runId)
    {
        foreach (string parent in new[] { root, Path.Combine(root, TrashFolder) })
        {
            foreach (string experiment in Directory.EnumerateDirectories(parent))
            {
                string copy = Path.Combine(experiment, runId);
                if (Directory.Exists(copy))
                    Directory.Delete(copy, recursive: true);
            }
        }
    }

    /// <summary>The run's tags plus MLflow's system tags; the parent is named by its local id, which is its id in the export.</summary>
    private static Dictionary<string, string> Tags(RunRecord run)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tag in MlflowSystemTags.AtCreation(run.Id, run.Name, MlflowSystemTags.CurrentUser, run.ParentRunId))
            tags[tag.Key] = tag.Value;
        foreach (var tag in MlflowSystemTags.FromLocal(run.Tags))
            tags[tag.Key] = tag.Value;
        return tags;
    }

    private static void WriteExperiment(string root, string id, string name, long createdMs)
    {
        string folder = Path.Combine(root, id);
        Directory.CreateDirectory(folder);
        MlflowMetaYaml.Write(Path.Combine(folder, MlflowMetaYaml.FileName), new Dictionary<string, object?>
        {
            ["artifact_location"] = new Uri(folder).AbsoluteUri,
            ["creation_time"] = createdMs,
            ["experiment_id"] = id,
            ["last_update_time"] = createdMs,
            ["lifecycle_stage"] = "active",
            ["name"] = name,
        });
    }

    /// <summary>The experiments already in the folder, active and in .trash (malformed ones are ignored, as MLflow does).</summary>
    private static List<ExperimentFolder> ReadExperiments(string root)
    {
        var found = new List<ExperimentFolder>();
        foreach (var (parent, deleted) in new[] { (root, false), (Path.Combine(root, TrashFolder), true) })
        {
            if (!Directory.Exists(parent))
                continue;
            foreach (string folder in Directory.EnumerateDirectories(parent))
            {
                string id = Path.GetFileName(folder);
                if (id == TrashFolder || MlflowMetaYaml.Read(Path.Combine(folder, MlflowMetaYaml.FileName)) is not { } meta
                    || meta.GetValueOrDefault("name") is not { } name)
                    continue;
                found.Add(new ExperimentFolder(id, name, deleted || meta.GetValueOrDefault("lifecycle_stage") == "deleted"));
            }
        }
        return found;
    }

    /// <summary>One above the highest numeric experiment id in the folder or its .trash.</summary>
    private static string NextExperimentId(string root)
    {
        long max = 0;
        foreach (string parent in new[] { root, Path.Combine(root, TrashFolder) })
        {
            foreach (string folder in Directory.EnumerateDirectories(parent))
            {
                if (long.TryParse(Path.GetFileName(folder), NumberStyles.None, CultureInfo.InvariantCulture, out long id))
                    max = Math.Max(max, id);
            }
        }
        return (max + 1).ToString(CultureInfo.InvariantCulture);
    }

    private static void WriteKeyFile(string runFolder, string kind, string key, string content)
    {
        AtomicFile.WriteText(KeyPath(Path.Combine(runFolder, kind), key), content);
    }

    /// <summary>A validated key or artifact path ('/'-separated, no '..') as a file under the folder.</summary>
    private static string KeyPath(string folder, string key) => ArtifactPaths.Resolve(folder, key);

    /// <summary>As Python prints floats, which is what MLflow's reader parses with float().</summary>
    private static string FormatValue(double value) =>
        double.IsNaN(value) ? "nan"
        : double.IsPositiveInfinity(value) ? "inf"
        : double.IsNegativeInfinity(value) ? "-inf"
        : value.ToString("R", CultureInfo.InvariantCulture);
}
