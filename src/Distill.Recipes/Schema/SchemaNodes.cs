using System.Text.RegularExpressions;

namespace Distill.Recipes.Schema;

/// <summary>The shape one recipe node must have.</summary>
internal abstract class SchemaNode
{
    /// <summary>Human-readable type, e.g. "integer >= 1" or "one of sgd | adam".</summary>
    public abstract string Describe();
}

/// <summary>Path: an existing file; Checkpoint: an existing file or a <c>runs:/</c> reference to an earlier run's file (looked
/// up in the run store when the recipe is loaded for a run, see <see cref="RunReferenceLookup"/>); Folder: a folder that need
/// not exist yet; ExistingFolder: a folder that exists; Target: a target profile's name or file.
/// A path relative to the recipe's folder is resolved to a full path, so that the resolved recipe means the same
/// files wherever it is read from.</summary>
internal enum ScalarKind { Integer, Number, Boolean, String, Enum, Path, Checkpoint, Folder, ExistingFolder, Target }

internal sealed class ScalarSchema : SchemaNode
{
    public required ScalarKind Kind { get; init; }
    public IReadOnlyList<string> Allowed { get; init; } = [];
    public double? Min { get; init; }
    public bool MinExclusive { get; init; }
    public double? Max { get; init; }
    public bool MaxExclusive { get; init; }
    public Regex? Pattern { get; init; }
    /// <summary>What <see cref="Pattern"/> allows, in words, for docs and errors.</summary>
    public string? PatternRule { get; init; }
    public bool AllowEmpty { get; init; }

    /// <summary>Longest string or path; null = <see cref="RecipeLimits.ParamValue"/> (every value is a run param).</summary>
    public Limit? MaxLength { get; init; }

    public override string Describe() => Kind switch
    {
        ScalarKind.Integer => "integer" + RangeText(),
        ScalarKind.Number => "number" + RangeText(),
        ScalarKind.Boolean => "true | false",
        ScalarKind.Enum => "one of " + string.Join(" | ", Allowed),
        ScalarKind.Path => "path to an existing file (relative to the recipe's folder)",
        ScalarKind.Checkpoint => "path to an existing file (relative to the recipe's folder), or runs:/<run id, id prefix or run name>/<artifact path>: a file of an earlier run in the run store",
        ScalarKind.Folder => "path to a folder (relative to the recipe's folder)",
        ScalarKind.ExistingFolder => "path to an existing folder (relative to the recipe's folder)",
        ScalarKind.Target => "target profile name, or path to a profile file (relative to the recipe's folder)",
        // A name's rule states its length already.
        _ => Pattern is null ? "string" + MaxLengthText() : PatternRule is { } rule ? $"name: {rule}" : $"string matching {Pattern}" + MaxLengthText(),
    };

    private string MaxLengthText() => MaxLength is { } max ? $", at most {max.Text} characters" : "";

    /// <summary>The allowed values as Core writes a range.</summary>
    public Core.ValueRange Range => new(Min, MinExclusive, Max, MaxExclusive);

    public string RangeText() => Range.ToString() is { Length: > 0 } text ? " " + text : "";

    /// <summary>Null when <paramref name="value"/> is in range, else the complaint.</summary>
    public string? CheckRange(double value) => Range.Contains(value) ? null : $"must be{RangeText()}, got {Format(value)}";

    public static string Format(double value) => Core.ValueRange.Format(value);
}

internal sealed class ListSchema : SchemaNode
{
    public required SchemaNode Item { get; init; }
    public int MinCount { get; init; }
    public int? ExactCount { get; init; }

    /// <summary>Most items; null = <see cref="RecipeLimits.ListItems"/>.</summary>
    public Limit? MaxCount { get; init; }

    public override string Describe()
    {
        string count = ExactCount is { } n ? $", exactly {n}"
            : MaxCount is { } max ? (MinCount > 0 ? $", {MinCount} to {max.Text}" : $", at most {max.Text}")
            : MinCount > 0 ? $", at least {MinCount}" : "";
        string item = Item is MapSchema ? "mappings" : $"({Item.Describe()})";
        return $"list of {item}{count}";
    }
}

internal sealed class MapSchema : SchemaNode
{
    public required IReadOnlyList<Field> Fields { get; init; }

    /// <summary>Keys that are known but not allowed here, with the reason.</summary>
    public IReadOnlyDictionary<string, string> Forbidden { get; init; } = new Dictionary<string, string>();

    /// <summary>When set, keys the user chooses (besides <see cref="Fields"/>), each with a value of this schema.</summary>
    public SchemaNode? AnyKey { get; init; }

    public Field? Find(string key) => Fields.FirstOrDefault(f => f.Key == key);

    public IEnumerable<string> Keys => Fields.Select(f => f.Key);

    public override string Describe() => AnyKey is null ? "mapping" : $"mapping of name: ({AnyKey.Describe()})";
}

/// <summary>A field applies only when a sibling enum key has one of the given values.</summary>
internal sealed record Condition(string Key, params string[] Values)
{
    public string Describe(string parentPath) =>
        $"{Paths.Join(parentPath, Key)} is {string.Join(" or ", Values)}";
}

internal sealed class Field
{
    public required string Key { get; init; }
    public required SchemaNode Schema { get; init; }
    public required string Doc { get; init; }
    public bool Required { get; init; }

    /// <summary>Scalar default: long, double, bool, string, or an array of those for lists.</summary>
    public object? Default { get; init; }

    /// <summary>Default computed from the (resolved) sibling keys; <see cref="DefaultText"/> explains it.</summary>
    public Func<MapValue, object?>? DefaultFrom { get; init; }
    public string? DefaultText { get; init; }

    /// <summary>A mapping that is filled with its own defaults when absent.</summary>
    public bool DefaultEmpty { get; init; }

    public Condition? When { get; init; }
}

internal static class Paths
{
    public static string Join(string parent, string key) => parent.Length == 0 ? key : $"{parent}.{key}";
}
