using System.Text.RegularExpressions;

namespace Distill.Core.Tracking;

/// <summary>Validation of keys, values, names and artifact paths before they reach the store.</summary>
internal static partial class TrackingNames
{
    public const int MaxKeyLength = TrackingLimits.KeyLength;
    public const int MaxNameLength = TrackingLimits.NameLength;
    public const int MaxParamValueLength = TrackingLimits.ParamValueLength;
    public const int MaxTagValueLength = TrackingLimits.TagValueLength;
    public const int MaxArtifactPathLength = 1000;

    /// <summary>A tag value cut to the longest a tag holds, keeping its start and ending "…" when cut.</summary>
    public static string FitTagValue(string value) =>
        value.Length <= MaxTagValueLength ? value : value[..(MaxTagValueLength - 1)] + "…";

    // Characters that Windows forbids in file names, besides control characters and separators.
    private static readonly char[] NonPortablePathChars = ['<', '>', ':', '"', '|', '?', '*'];

    // MLflow's name rule (mlflow/utils/validation.py: ^[/\w.\- ]*$), restricted to ASCII so that a key
    // is the same file name and the same filter text everywhere.
    [GeneratedRegex(@"^[A-Za-z0-9_./\- ]+$")]
    private static partial Regex KeyPattern();

    /// <summary>
    /// A param, metric or tag key, e.g. "stages.0.optimizer.lr" or "val/accuracy", checked against MLflow's
    /// rules so that every key of the store is accepted by an MLflow server and its file store: letters,
    /// digits and _ . - / space, at most <see cref="MaxKeyLength"/> characters, and the same after path
    /// normalisation (no empty, '.' or '..' segment, no leading or trailing '/', no leading "..").
    /// </summary>
    public static void ValidateKey(string kind, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (KeyProblem(key) is { } problem)
            throw new InvalidInputException($"invalid {kind} key '{Printable(key)}': it {problem}");
    }

    /// <summary>Why MLflow would refuse the key, or null when it is a valid name.</summary>
    public static string? KeyProblem(string key) =>
        key.Length == 0 ? "is empty"
        : key.Length > MaxKeyLength ? $"is {key.Length} characters long (at most {MaxKeyLength})"
        : key.Any(char.IsControl) ? "contains a control character"
        : !KeyPattern().IsMatch(key) ? "contains characters other than letters, digits and _ . - / space"
        : key.StartsWith('/') ? "starts with '/'"
        : key.EndsWith('/') ? "ends with '/'"
        : key.StartsWith("..", StringComparison.Ordinal) ? "starts with '..'"
        : key.Split('/').Any(s => s is "" or "." or "..") ? "has an empty, '.' or '..' path segment"
        : null;

    public static void ValidateValue(string kind, string key, string value, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(value, $"{kind} '{key}'");
        if (value.Length > maxLength)
            throw new InvalidInputException(
                $"{kind} '{key}' has a value of {value.Length} characters; at most {maxLength} are allowed");
    }

    /// <summary>An experiment or run name.</summary>
    public static void ValidateName(string kind, string name)
    {
        ArgumentNullException.ThrowIfNull(name, kind);
        string? problem =
            string.IsNullOrWhiteSpace(name) ? "is empty"
            : name.Length > MaxNameLength ? $"is {name.Length} characters long (at most {MaxNameLength})"
            : name.Any(char.IsControl) ? "contains a control character"
            : null;
        if (problem is not null)
            throw new InvalidInputException($"invalid {kind} '{Printable(name)}': it {problem}");
    }

    /// <summary>
    /// Checks a path relative to a run's artifact folder and returns it '/'-separated
    /// ('\' is accepted as a separator so that Windows-style paths mean the same everywhere).
    /// </summary>
    public static string NormalizeArtifactPath(string artifactPath)
    {
        ArgumentNullException.ThrowIfNull(artifactPath);
        string normalized = artifactPath.Replace('\\', '/');
        string[] segments = normalized.Split('/');
        string? problem =
            normalized.Length == 0 ? "is empty"
            : normalized.Length > MaxArtifactPathLength ? $"is {normalized.Length} characters long (at most {MaxArtifactPathLength})"
            : normalized.Any(char.IsControl) ? "contains a control character"
            : normalized.StartsWith('/') || Path.IsPathRooted(artifactPath) ? "is absolute; it must be relative to the run's artifact folder"
            : segments.Contains("..") ? "contains a '..' segment"
            : normalized.IndexOfAny(NonPortablePathChars) >= 0 ? "contains one of < > : \" | ? *"
            : segments.Any(s => s.Length == 0 || s == ".") ? "contains an empty or '.' segment"
            : segments.Any(s => s.EndsWith(' ') || s.EndsWith('.')) ? "has a segment ending in a space or '.'"
            : null;
        if (problem is not null)
            throw new InvalidInputException($"invalid artifact path '{Printable(artifactPath)}': it {problem}");
        return normalized;
    }

    /// <summary>Shows control characters as \uXXXX so that error messages stay on one line (<see cref="PrintableText.Escape(string)"/>).</summary>
    public static string Printable(string text) => PrintableText.Escape(text);
}
