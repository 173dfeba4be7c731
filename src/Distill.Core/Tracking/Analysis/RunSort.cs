using Microsoft.Data.Analysis;

namespace Distill.Core.Tracking.Analysis;

public sealed record SortKey(RunField Field, bool Descending);

/// <summary>
/// A sort order such as "-metrics.val/acc,attributes.name": comma-separated fields, each ascending
/// or, with a leading '-', descending. Runs that lack a field sort after those that have it, and
/// ties keep the incoming order (newest first).
/// </summary>
public static class RunSort
{
    public static IReadOnlyList<SortKey> Parse(string sort)
    {
        ArgumentNullException.ThrowIfNull(sort);
        var keys = new List<SortKey>();
        foreach (string part in sort.Split(',', StringSplitOptions.TrimEntries))
        {
            if (part.Length == 0)
                throw new InvalidInputException($"--sort '{sort}': an empty field; write e.g. -metrics.val/acc");
            bool descending = part.StartsWith('-');
            string name = part.TrimStart('-', '+');
            keys.Add(new SortKey(RunField.Parse(name, $"--sort '{sort}'"), descending));
        }
        return keys;
    }

    /// <summary>The row order of the frame under the sort keys (a stable sort).</summary>
    public static long[] Order(DataFrame frame, IReadOnlyList<SortKey> keys)
    {
        var rows = Enumerable.Range(0, (int)frame.Rows.Count).Select(i => (long)i).ToArray();
        if (keys.Count == 0)
            return rows;
        var columns = keys.Select(k => frame.Columns[RunFrame.ColumnOf(k.Field)]).ToArray();
        return rows.OrderBy(r => r, Comparer<long>.Create((a, b) =>
        {
            for (int k = 0; k < keys.Count; k++)
            {
                int order = CompareValues(columns[k][a], columns[k][b], keys[k].Descending);
                if (order != 0)
                    return order;
            }
            return a.CompareTo(b);
        })).ToArray();
    }

    private static int CompareValues(object? a, object? b, bool descending)
    {
        // Missing (and NaN) values go last whatever the direction.
        bool aMissing = a is null || a is double.NaN;
        bool bMissing = b is null || b is double.NaN;
        if (aMissing || bMissing)
            return aMissing.CompareTo(bMissing);
        int order = (a, b) switch
        {
            (double x, double y) => x.CompareTo(y),
            (string x, string y) => CompareText(x, y),
            _ => 0,
        };
        return descending ? -order : order;
    }

    /// <summary>Numbers stored as text (params) compare as numbers; other text ordinally.</summary>
    private static int CompareText(string x, string y)
    {
        var style = System.Globalization.NumberStyles.Float;
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        if (double.TryParse(x, style, culture, out double dx) && double.TryParse(y, style, culture, out double dy))
            return dx.CompareTo(dy);
        return string.CompareOrdinal(x, y);
    }
}
