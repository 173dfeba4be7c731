using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>
/// Reads an mlruns folder the way MLflow's file store does (mlflow/store/tracking/file_store.py), and
/// throws where MLflow would refuse or silently drop what it finds: experiments are the folders of
/// the root other than .trash (deleted ones are in .trash), each with a meta.yaml whose experiment_id
/// is the folder's name; runs are the folders of an experiment with a meta.yaml whose run_id is the
/// folder's name and whose experiment_id is the experiment's; status is MLflow's RunStatus number;
/// metrics/, params/ and tags/ hold one file per key (sub-folders for '/'), every key a valid MLflow
/// name, a metric file one "timestamp value [step]" line per point. YAML scalars are resolved as
/// PyYAML does for the values MLflow writes: quoted text is text, plain digits an int, null/~/empty null.
/// </summary>
public static partial class MlflowFileStoreReader
{
    public sealed record Experiment(string Id, string Name, string LifecycleStage, string ArtifactLocation, long CreationTime, bool InTrash);

    public sealed record Point(long Timestamp, double Value, long Step);

    public sealed record Run(
        string Id,
        string ExperimentId,
        string Name,
        string Status,
        long StartTime,
        long? EndTime,
        string LifecycleStage,
        long? DeletedTime,
        string ArtifactUri,
        string UserId,
        IReadOnlyDictionary<string, IReadOnlyList<Point>> Metrics,
        IReadOnlyDictionary<string, string> Params,
        IReadOnlyDictionary<string, string> Tags);

    public sealed record Store(IReadOnlyList<Experiment> Experiments, IReadOnlyList<Run> Runs);

    private static readonly string[] ReservedExperimentFolders = ["tags", "datasets", "traces"];

    // file_store.py: RunStatus numbers, and validation.py's id rules.
    private static readonly Dictionary<long, string> Statuses = new() { [1] = "RUNNING", [2] = "SCHEDULED", [3] = "FINISHED", [4] = "FAILED", [5] = "KILLED" };

    [GeneratedRegex(@"^[a-zA-Z0-9][\w\-]{0,255}$")]
    private static partial Regex RunId();

    [GeneratedRegex(@"^[a-zA-Z0-9][\w\-]{0,63}$")]
    private static partial Regex ExperimentId();

    [GeneratedRegex("^[-+]?(0|[1-9][0-9_]*)$")]
    private static partial Regex YamlInt();

    public static Store Read(string root)
    {
        if (!Directory.Exists(root))
            throw new InvalidDataException($"{root}: no such folder");
        var experiments = new List<Experiment>();
        var runs = new List<Run>();
        string trash = Path.Combine(root, ".trash");
        var folders = Directory.GetDirectories(root).Where(d => Path.GetFileName(d) is not ".trash" and not "models").Select(d => (d, false))
            .Concat(Directory.Exists(trash) ? Directory.GetDirectories(trash).Select(d => (d, true)) : []);
        foreach (var (folder, inTrash) in folders)
        {
            var experiment = ReadExperiment(folder, inTrash);
            experiments.Add(experiment);
            foreach (string runFolder in Directory.GetDirectories(folder).Where(d => !ReservedExperimentFolders.Contains(Path.GetFileName(d))))
            {
                if (!File.Exists(Path.Combine(runFolder, "meta.yaml")))
                    throw new InvalidDataException($"{runFolder}: a folder in experiment {experiment.Id} without meta.yaml (MLflow logs it as a malformed run)");
                runs.Add(ReadRun(runFolder, experiment.Id));
            }
        }
        if (runs.GroupBy(r => r.Id).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new InvalidDataException($"run {twice.Key} is in more than one experiment (MLflow finds only the first)");
        return new Store(experiments, runs);
    }

    private static Experiment ReadExperiment(string folder, bool inTrash)
    {
        var meta = ReadYaml(Path.Combine(folder, "meta.yaml"));
        // _read_persisted_experiment_dict: an int experiment_id is taken as its text.
        string id = Text(meta, "experiment_id", allowInt: true);
        if (id != Path.GetFileName(folder))
            throw new InvalidDataException($"{folder}: meta.yaml says experiment_id '{id}' (MLflow ignores the experiment)");
        if (!ExperimentId().IsMatch(id))
            throw new InvalidDataException($"{folder}: invalid experiment ID '{id}'");
        return new Experiment(id, Text(meta, "name"), Text(meta, "lifecycle_stage"), Text(meta, "artifact_location"),
            Int(meta, "creation_time") ?? throw new InvalidDataException($"{folder}: no creation_time"), inTrash);
    }

    private static Run ReadRun(string folder, string experimentId)
    {
        var meta = ReadYaml(Path.Combine(folder, "meta.yaml"));
        string id = Text(meta, "run_id");
        if (id != Path.GetFileName(folder) || Text(meta, "run_uuid") != id || !RunId().IsMatch(id))
            throw new InvalidDataException($"{folder}: run_id '{id}' is not the folder's name or not a valid run ID");
        if (Text(meta, "experiment_id", allowInt: true) != experimentId)
            throw new InvalidDataException($"{folder}: experiment_id {meta["experiment_id"]} is not the experiment it is in ({experimentId}): INVALID_STATE");
        long status = Int(meta, "status") ?? 1; // a missing status reads as RUNNING
        if (!Statuses.TryGetValue(status, out string? statusText))
            throw new InvalidDataException($"{folder}: unknown status {status}");
        string lifecycle = meta.GetValueOrDefault("lifecycle_stage") as string ?? "active";
        if (lifecycle is not "active" and not "deleted")
            throw new InvalidDataException($"{folder}: unknown lifecycle_stage {lifecycle}");
        if (meta.GetValueOrDefault("tags") is not List<object?> { Count: 0 })
            throw new InvalidDataException($"{folder}: meta.yaml must keep 'tags: []' for older MLflow readers");
        return new Run(id, experimentId, Text(meta, "run_name"), statusText,
            Int(meta, "start_time") ?? throw new InvalidDataException($"{folder}: no start_time"), Int(meta, "end_time"),
            lifecycle, Int(meta, "deleted_time"), Text(meta, "artifact_uri"), Text(meta, "user_id"),
            Files(folder, "metrics", "metric").ToDictionary(f => f.Key, f => (IReadOnlyList<Point>)ReadPoints(f.Path, f.Key), StringComparer.Ordinal),
            Files(folder, "params", "parameter").ToDictionary(f => f.Key, f => File.ReadAllText(f.Path), StringComparer.Ordinal),
            Files(folder, "tags", "tag").ToDictionary(f => f.Key, f => File.ReadAllText(f.Path), StringComparer.Ordinal));
    }

    /// <summary>_get_resource_files: every file under the folder, named by its '/'-separated relative path, which must be a valid name.</summary>
    private static IEnumerable<(string Key, string Path)> Files(string runFolder, string kind, string what)
    {
        string folder = Path.Combine(runFolder, kind);
        if (!Directory.Exists(folder))
            yield break;
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            string key = Path.GetRelativePath(folder, file).Replace(Path.DirectorySeparatorChar, '/');
            if (MlflowInputRules.NameProblem(what, key) is { } problem)
                throw new InvalidDataException($"{file}: {problem}");
            yield return (key, file);
        }
    }

    /// <summary>_get_metric_from_line: "timestamp value" or "timestamp value step", split on single spaces.</summary>
    private static List<Point> ReadPoints(string file, string key)
    {
        var points = new List<Point>();
        foreach (string line in File.ReadAllLines(file))
        {
            string[] parts = line.Trim().Split(' ');
            if (parts.Length is not 2 and not 3)
                throw new InvalidDataException($"Metric '{key}' is malformed; persisted metric data contained {parts.Length} fields. Expected 2 or 3 fields.");
            points.Add(new Point(long.Parse(parts[0], CultureInfo.InvariantCulture), PythonFloat(parts[1]),
                parts.Length == 3 ? long.Parse(parts[2], CultureInfo.InvariantCulture) : 0));
        }
        if (points.Count == 0)
            throw new InvalidDataException($"Metric '{key}' is malformed. No data found.");
        return points;
    }

    /// <summary>Python's float(): decimal or exponent notation, nan, inf, -inf.</summary>
    private static double PythonFloat(string text) => text.ToLowerInvariant() switch
    {
        "nan" => double.NaN,
        "inf" or "infinity" => double.PositiveInfinity,
        "-inf" or "-infinity" => double.NegativeInfinity,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    private static Dictionary<string, object?> ReadYaml(string path)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new InvalidDataException($"{path}: not YAML: {e.Message}", e);
        }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode mapping)
            throw new InvalidDataException($"{path}: not one YAML mapping");
        return mapping.Children.ToDictionary(c => ((YamlScalarNode)c.Key).Value!, c => Resolve(c.Value));
    }

    private static object? Resolve(YamlNode node) => node switch
    {
        YamlSequenceNode sequence => sequence.Children.Select(Resolve).ToList(),
        YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded } quoted => quoted.Value,
        YamlScalarNode { Value: null or "" or "~" or "null" or "Null" or "NULL" } => null,
        YamlScalarNode plain when YamlInt().IsMatch(plain.Value!) => long.Parse(plain.Value!.Replace("_", "", StringComparison.Ordinal), CultureInfo.InvariantCulture),
        YamlScalarNode plain => plain.Value,
        _ => throw new InvalidDataException($"unexpected YAML node {node.NodeType}"),
    };

    private static string Text(Dictionary<string, object?> meta, string key, bool allowInt = false) =>
        meta.GetValueOrDefault(key) switch
        {
            string text => text,
            long number when allowInt => number.ToString(CultureInfo.InvariantCulture),
            var other => throw new InvalidDataException($"meta.yaml: '{key}' is {other ?? "missing"}, not text"),
        };

    private static long? Int(Dictionary<string, object?> meta, string key) =>
        meta.GetValueOrDefault(key) switch
        {
            null => null,
            long number => number,
            var other => throw new InvalidDataException($"meta.yaml: '{key}' is '{other}', not an integer"),
        };
}
