using System.Globalization;
using Microsoft.Data.Analysis;
using Spectre.Console;

namespace Distill.Cli.Output;

/// <summary>Prints a DataFrame as a console table: numbers right-aligned (G6), nulls as '-'.</summary>
public static class DataFrameTable
{
    /// <summary>Wide tables are not wrapped at 80 columns when stdout goes to a file or a pipe.</summary>
    public static void Write(Table table)
    {
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
            console.Profile.Width = Math.Max(console.Profile.Width, 240);
        console.Write(table);
    }

    public static Table Build(DataFrame frame, Func<string, object?, string?>? format = null)
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
                ConsoleText.Markup(format?.Invoke(c.Name, c[row]) ?? Format(c[row]))).ToArray());
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
