using System.Globalization;
using Microsoft.Data.Analysis;

namespace Distill.Core.Tracking.Analysis;

/// <summary>Writes a DataFrame as RFC 4180 CSV: a header row, fields quoted when they hold a comma, quote or line break; nulls empty; numbers invariant.
/// Control characters other than line breaks and tabs are written as \uXXXX (<see cref="PrintableText.EscapeLines"/>), as the CSV is often read on a terminal.</summary>
public static class DataFrameCsv
{
    public static void Write(DataFrame frame, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(string.Join(",", frame.Columns.Select(c => Quote(c.Name))));
        writer.Write("\r\n");
        for (long row = 0; row < frame.Rows.Count; row++)
        {
            writer.Write(string.Join(",", frame.Columns.Select(c => Quote(Format(c[row])))));
            writer.Write("\r\n");
        }
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Quote(string text)
    {
        string field = PrintableText.EscapeLines(text);
        return field.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : field;
    }
}
