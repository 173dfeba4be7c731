using System.Text.RegularExpressions;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>
/// MLflow's input rules for runs (mlflow/utils/validation.py), as its tracking server applies them,
/// written for the test server from that documentation, independently of Distill's own checks. Each
/// method returns MLflow's message for a broken rule, or null.
/// </summary>
public static partial class MlflowInputRules
{
    public const int MaxKeyLength = 250;
    public const int MaxParamValueLength = 6000;
    public const int MaxMetricsPerBatch = 1000;
    public const int MaxParamsOrTagsPerBatch = 100;
    public const int MaxItemsPerBatch = 1000;
    public const int MaxBatchRequestBytes = 1_000_000;

    private const string BadCharacters =
        "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).";

    // validation.py: _VALID_PARAM_AND_METRIC_NAMES = ^[/\w.\- ]*$ (\w as Python's re: Unicode word characters).
    [GeneratedRegex(@"^[/\w.\- ]*$")]
    private static partial Regex ValidName();

    /// <summary>A metric, param or tag name: the character rule, then the path rule, then the length (as _validate_metric/_validate_param/_validate_tag).</summary>
    public static string? NameProblem(string kind, string? name)
    {
        if (name is null)
            return $"{kind} name cannot be None. A key name must be provided.";
        if (!ValidName().IsMatch(name))
            return $"Invalid {kind} name: '{name}'. {BadCharacters}";
        string normalized = PosixNormPath(name);
        // path_not_unique: the name must be its own normalised path, and not ".", "..*" or "/*".
        if (normalized != name || normalized == "." || normalized.StartsWith("..", StringComparison.Ordinal) || normalized.StartsWith('/'))
        {
            return $"Invalid {kind} name: '{name}'. Names may be treated as files in certain cases, and must not resolve to other " +
                $"names when treated as such. This name would resolve to '{normalized}'";
        }
        return LengthProblem($"{Capitalised(kind)} name", MaxKeyLength, name);
    }

    /// <summary>_validate_length_limit: Python counts code points.</summary>
    public static string? LengthProblem(string what, int limit, string value)
    {
        int length = value.EnumerateRunes().Count();
        return length <= limit ? null : $"{what} '{Head(value)}' had length {length}, which exceeded length limit of {limit}";
    }

    public static string? BatchLimitProblem(int metrics, int parameters, int tags)
    {
        if (metrics > MaxMetricsPerBatch)
            return LimitMessage("metrics", MaxMetricsPerBatch, metrics);
        if (parameters > MaxParamsOrTagsPerBatch)
            return LimitMessage("params", MaxParamsOrTagsPerBatch, parameters);
        if (tags > MaxParamsOrTagsPerBatch)
            return LimitMessage("tags", MaxParamsOrTagsPerBatch, tags);
        int total = metrics + parameters + tags;
        return total > MaxItemsPerBatch ? LimitMessage("metrics, params, and tags", MaxItemsPerBatch, total) : null;
    }

    /// <summary>
    /// Python's posixpath.normpath: drops empty and '.' segments, resolves '..' against the segment before
    /// it, keeps one leading '/' (two when there are exactly two), and gives "." for an empty result.
    /// </summary>
    public static string PosixNormPath(string path)
    {
        if (path.Length == 0)
            return ".";
        int leadingSlashes = !path.StartsWith('/') ? 0 : path.StartsWith("//", StringComparison.Ordinal) && !path.StartsWith("///", StringComparison.Ordinal) ? 2 : 1;
        var segments = new List<string>();
        foreach (string segment in path.Split('/'))
        {
            if (segment is "" or ".")
                continue;
            if (segment != ".." || (leadingSlashes == 0 && segments.Count == 0) || (segments.Count > 0 && segments[^1] == ".."))
                segments.Add(segment);
            else if (segments.Count > 0)
                segments.RemoveAt(segments.Count - 1);
        }
        string joined = new string('/', leadingSlashes) + string.Join('/', segments);
        return joined.Length == 0 ? "." : joined;
    }

    private static string LimitMessage(string what, int limit, int count) =>
        $"A batch logging request can contain at most {limit} {what}. Got {count} {what}. Please split up {what} across multiple requests and try again.";

    private static string Head(string value) => value.Length <= 250 ? value : value[..250];

    private static string Capitalised(string kind) => char.ToUpperInvariant(kind[0]) + kind[1..];
}
