using System.Globalization;
using Microsoft.Data.Analysis;
using Spectre.Console;

namespace Distill.Cli.Output;

/// <summary>Prints a DataFrame as a console table: numbers right-aligned (G6), nulls as '-'.</summary>
public static class DataFrameTable
{
    /// <summary>Writes to stdout (full width when redirected: see <see cref="RedirectedOutput"/>).</summary>
    public static void Write(Table table) => AnsiConsole.Console.Write(table);

    /// <param name="format">Text for a cell from its column's name and its value, or null for the default.</param>
    public static Table Build(DataFrame frame, Func<string, object?, string?>? format = null) =>
        Build(frame, (column, _, value) => format?.Invoke(column, value));

    /// <param name="format">Text for a cell from its column's name, its row and its value, or null for the default.</param>
    public static Table Build(DataFrame frame, Func<string, long, object?, string?> format)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in frame.Columns)
        {
            var header = new TableColumn(ConsoleText.Markup(column.Name));
            if (column.DataType == typeof(double))
                header.RightAligned();
            table.AddColumn(header);
        }
        for (long row = 0; row < frame.Rows.Count; row++)
        {
            table.AddRow(frame.Columns.Select(c =>
                ConsoleText.Markup(format(c.Name, row, c[row]) ?? Format(c[row]))).ToArray());
        }
        return table;
    }

    public static string Format(object? value) => value switch
    {
        null => "-",
        double d => d.ToString("G6", CultureInfo.InvariantCulture),
        bool b => b ? "yes" : "",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
