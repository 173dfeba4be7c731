using System.Globalization;

namespace Distill.Core;

/// <summary>A numeric range with optional, optionally exclusive bounds, written as recipes, docs and errors show it.</summary>
public sealed record ValueRange(double? Min = null, bool MinExclusive = false, double? Max = null, bool MaxExclusive = false)
{
    public bool Contains(double value) =>
        !(Min is { } lo && (MinExclusive ? value <= lo : value < lo)) && !(Max is { } hi && (MaxExclusive ? value >= hi : value > hi));

    /// <summary>"in [0, 1)", "&gt; 0", "&lt;= 8", or "" when unbounded.</summary>
    public override string ToString()
    {
        if (Min is { } lo && Max is { } hi)
            return $"in {(MinExclusive ? "(" : "[")}{Format(lo)}, {Format(hi)}{(MaxExclusive ? ")" : "]")}";
        if (Min is { } min)
            return $"{(MinExclusive ? ">" : ">=")} {Format(min)}";
        if (Max is { } max)
            return $"{(MaxExclusive ? "<" : "<=")} {Format(max)}";
        return "";
    }

    /// <summary>Round-trip text, lower case ("1e-05").</summary>
    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture).ToLowerInvariant();
}
