using System.Globalization;
using System.Text;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>
/// Writes runs in the layout of MLflow's file store (the mlruns/ folder that `mlflow server
/// --backend-store-uri DIR`, `mlflow migrate-filestore` and older MLflow UIs read):
/// DIR/&lt;experiment id&gt;/meta.yaml, DIR/&lt;experiment id&gt;/&lt;run id&gt;/meta.yaml, metrics/&lt;key&gt;
/// (one "timestamp value step" line per point), params/&lt;key&gt;, tags/&lt;key&gt; and artifacts/.
/// Keys with '/' become sub-folders, as in MLflow. A run is written to a temporary folder and moved
/// into place, replacing an earlier export of the same run, so exporting again duplicates nothing.
/// Experiments already in DIR are matched by name; new ones get the next free numeric id above 0
/// (0 is MLflow's "Default").
/// </summary>
public static class MlflowFileStore
{
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

    /// <summary>Exports the runs and returns the folder of each, by run id.</summary>
    public static IReadOnlyDictionary<string, string> Export(RunStore store, IEnumerable<RunRecord> runs, string directory)
    {
        ArgumentNullException.ThrowIfNull(store);
        var selected = runs.ToList();
        // Checked before anything is written: an artifact that a symbolic link leads out of its run's folder refuses the export.
        var artifacts = selected.ToDictionary(r => r.Id, r => ArtifactFiles(store, r));
        string root = Path.GetFullPath(directory);
        if (File.Exists(root))
            throw new InvalidInputException($"{root}: is a file; --mlflow-dir needs a folder (MLflow's mlruns)");
        Directory.CreateDirectory(root);
        var experiments = ReadExperiments(root);
        var written = new Dictionary<string, string>();
        foreach (var run in selected)
        {
            if (!experiments.TryGetValue(run.Experiment, out string? experimentId))
            {
                experimentId = NextExperimentId(root);
                WriteExperiment(root, experimentId, run.Experiment, run.StartTime.ToUnixTimeMilliseconds());
                experiments[run.Experiment] = experimentId;
            }
            written[run.Id] = WriteRun(store, run, artifacts[run.Id], root, experimentId);
        }
        return written;
    }

    /// <summary>The files of the run's artifacts by artifact path; one registered but deleted since is left out.</summary>
    private static List<(string Artifact, string File)> ArtifactFiles(RunStore store, RunRecord run) =>
        run.Artifacts.Select(a => (a, store.ArtifactFile(run.Id, a))).Where(a => File.Exists(a.Item2)).ToList();

    private static string WriteRun(RunStore store, RunRecord run, List<(string Artifact, string File)> artifactFiles, string root, string experimentId)
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

            foreach (string key in run.Metrics.Keys)
            {
                var lines = new StringBuilder();
                foreach (var point in store.GetMetricHistory(run.Id, key))
                    lines.Append(CultureInfo.InvariantCulture, $"{point.Timestamp.ToUnixTimeMilliseconds()} {FormatValue(point.Value)} {point.Step}\n");
                WriteKeyFile(staging, "metrics", key, lines.ToString());
            }
            foreach (var (key, value) in run.Params)
                WriteKeyFile(staging, "params", key, value);
            foreach (var (key, value) in Tags(run))
                WriteKeyFile(staging, "tags", key, value);

            long? end = run.EndTime?.ToUnixTimeMilliseconds();
            File.WriteAllText(Path.Combine(staging, "meta.yaml"),
                $"""
                artifact_uri: {Quote(new Uri(Path.Combine(final, "artifacts")).AbsoluteUri)}
                end_time: {(end is { } e ? e.ToString(CultureInfo.InvariantCulture) : "null")}
                entry_point_name: ''
                experiment_id: {Quote(experimentId)}
                lifecycle_stage: active
                run_id: {run.Id}
                run_name: {Quote(run.Name)}
                run_uuid: {run.Id}
                source_name: ''
                source_type: {LocalSourceType}
                source_version: ''
                start_time: {run.StartTime.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}
                status: {StatusCode(run.Status)}
                tags: []
                user_id: {Quote(MlflowSystemTags.CurrentUser)}

                """);

            if (Directory.Exists(final))
                Directory.Delete(final, recursive: true);
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

    /// <summary>The run's tags plus MLflow's system tags; the parent is named by its local id, which is its id in the export.</summary>
    private static IEnumerable<KeyValuePair<string, string>> Tags(RunRecord run)
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
        string created = createdMs.ToString(CultureInfo.InvariantCulture);
        File.WriteAllText(Path.Combine(folder, "meta.yaml"),
            $"""
            artifact_location: {Quote(new Uri(folder).AbsoluteUri)}
            creation_time: {created}
            experiment_id: {Quote(id)}
            last_update_time: {created}
            lifecycle_stage: active
            name: {Quote(name)}

            """);
    }

    /// <summary>Experiment name → id of the experiments already in the folder.</summary>
    private static Dictionary<string, string> ReadExperiments(string root)
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string folder in Directory.EnumerateDirectories(root))
        {
            string meta = Path.Combine(folder, "meta.yaml");
            if (!File.Exists(meta))
                continue;
            foreach (string line in File.ReadLines(meta))
            {
                if (line.StartsWith("name: ", StringComparison.Ordinal))
                    found.TryAdd(Unquote(line["name: ".Length..].Trim()), Path.GetFileName(folder));
            }
        }
        return found;
    }

    private static string NextExperimentId(string root)
    {
        long max = 0;
        foreach (string folder in Directory.EnumerateDirectories(root))
        {
            if (long.TryParse(Path.GetFileName(folder), NumberStyles.None, CultureInfo.InvariantCulture, out long id))
                max = Math.Max(max, id);
        }
        return (max + 1).ToString(CultureInfo.InvariantCulture);
    }

    private static void WriteKeyFile(string runFolder, string kind, string key, string content)
    {
        string path = KeyPath(Path.Combine(runFolder, kind), key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    /// <summary>A validated key or artifact path ('/'-separated, no '..') as a file under the folder.</summary>
    private static string KeyPath(string folder, string key) => ArtifactPaths.Resolve(folder, key);

    /// <summary>As Python prints floats, which is what MLflow's reader parses with float().</summary>
    private static string FormatValue(double value) =>
        double.IsNaN(value) ? "nan"
        : double.IsPositiveInfinity(value) ? "inf"
        : double.IsNegativeInfinity(value) ? "-inf"
        : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A single-quoted YAML scalar (names are validated to have no control characters).</summary>
    private static string Quote(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static string Unquote(string text) =>
        text.Length >= 2 && text[0] == '\'' && text[^1] == '\'' ? text[1..^1].Replace("''", "'", StringComparison.Ordinal)
        : text.Length >= 2 && text[0] == '"' && text[^1] == '"' ? text[1..^1]
        : text;
}
