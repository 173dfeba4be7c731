using System.Globalization;
using Microsoft.Data.Analysis;

namespace Distill.Core.Data;

/// <summary>A CSV table read by column name through Microsoft.Data.Analysis (<see cref="DataFrame.LoadCsv(Stream, char, bool, string[], Type[], long, int, bool, System.Text.Encoding, bool, CultureInfo)"/>):
/// the feature columns named (in that order; other columns are ignored) and a label column holding class numbers or
/// class names. Rows are counted from 1 after the header row; blank lines are not rows.</summary>
internal static class NamedCsv
{
    /// <param name="features">Feature columns by name; null = every column but the label, in file order.</param>
    /// <param name="labelNames">Whether labels are class names (any text) rather than class numbers.</param>
    /// <param name="classNames">Labels by name: the classes they must be, in label order (a test file takes the training
    /// file's); null = the file's distinct labels, sorted ordinally.</param>
    public static (CsvTable Table, string[]? ClassNames) Read(string path, IReadOnlyList<string>? features, string? labelColumn, bool labelNames,
        IReadOnlyList<string>? classNames, CancellationToken cancel = default)
    {
        DataFrame frame;
        try
        {
            string[] header = Header(path);
            // LoadCsv needs a seekable stream; a gzip stream is not one.
            using var stream = new MemoryStream();
            using (var file = DataFile.OpenMaybeGzip(path))
                file.CopyTo(stream);
            stream.Position = 0;
            // Every column as text: the numbers are parsed here, so that a bad cell is reported by row and column.
            frame = DataFrame.LoadCsv(stream, header: true, dataTypes: header.Select(_ => typeof(string)).ToArray(), cultureInfo: CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or System.IO.InvalidDataException or UnauthorizedAccessException)
        {
            throw DataFile.Unreadable(path, e);
        }
        catch (FormatException e)
        {
            throw new InvalidInputException($"{path}: {e.Message}", e);
        }
        cancel.ThrowIfCancellationRequested();
        string[] names = frame.Columns.Select(c => c.Name).ToArray();
        string label = labelColumn ?? names[^1];
        var labelData = Column(frame, path, label, "label");
        string[] featureNames = features?.ToArray() ?? names.Where(n => n != label).ToArray();
        if (featureNames.Length == 0)
            throw new InvalidInputException($"{path}: no feature columns besides the label column '{label}'");
        if (featureNames.Contains(label))
            throw new InvalidInputException($"{path}: column '{label}' is both the label and a feature");
        var featureData = featureNames.Select(n => Column(frame, path, n, "feature")).ToArray();

        long rows = frame.Rows.Count;
        if (rows == 0)
            throw new InvalidInputException($"{path}: no data rows");
        var values = new float[rows * featureNames.Length];
        for (long r = 0; r < rows; r++)
        {
            if (r % 4096 == 0)
                cancel.ThrowIfCancellationRequested();
            for (int c = 0; c < featureNames.Length; c++)
            {
                string cell = Cell(featureData[c], r, path, featureNames[c]);
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
                    throw new InvalidInputException($"{path}: row {r + 1}, column '{featureNames[c]}': '{cell}' is not a finite number");
                values[r * featureNames.Length + c] = (float)value;
            }
        }
        string[] labelCells = Enumerable.Range(0, (int)rows).Select(r => Cell(labelData, r, path, label)).ToArray();
        var (labels, classes) = labelNames ? ByName(labelCells, classNames, path, label) : (ByNumber(labelCells, path, label), null);
        int[] rowNumbers = Enumerable.Range(1, (int)rows).ToArray();
        return (CsvTable.Of(path, featureNames, label, values, labels, rowNumbers), classes);
    }

    /// <summary>The header row's cells, as LoadCsv names the columns.</summary>
    private static string[] Header(string path)
    {
        using var reader = new StreamReader(DataFile.OpenMaybeGzip(path));
        string? line;
        while ((line = reader.ReadLine()) is not null && string.IsNullOrWhiteSpace(line))
        {
        }
        return line is null ? throw new InvalidInputException($"{path}: empty file; expected a header row naming the columns") : line.Split(',');
    }

    private static DataFrameColumn Column(DataFrame frame, string path, string name, string role)
    {
        var column = frame.Columns.FirstOrDefault(c => c.Name == name);
        if (column is null)
        {
            var names = frame.Columns.Select(c => c.Name).ToList();
            throw new InvalidInputException(
                $"{path}: no {role} column named '{name}' in the header ({string.Join(", ", names.Take(10))}{(names.Count > 10 ? ", …" : "")})");
        }
        return column;
    }

    private static string Cell(DataFrameColumn column, long row, string path, string name)
    {
        string? cell = column[row]?.ToString()?.Trim();
        return string.IsNullOrEmpty(cell) ? throw new InvalidInputException($"{path}: row {row + 1}, column '{name}': missing value") : cell;
    }

    private static long[] ByNumber(string[] cells, string path, string label) => cells.Select((cell, r) =>
        double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value >= 0 && value <= CsvTable.MaxLabel && value == Math.Floor(value)
            ? (long)value
            : throw new InvalidInputException($"{path}: row {r + 1}, column '{label}': label '{cell}' is not a whole number in 0..{CsvTable.MaxLabel}; class names need data.labels: name"))
        .ToArray();

    private static (long[] Labels, string[] Classes) ByName(string[] cells, IReadOnlyList<string>? classNames, string path, string label)
    {
        string[] classes = classNames?.ToArray() ?? cells.Distinct().Order(StringComparer.Ordinal).ToArray();
        if (classNames is null && classes.Length < 2)
            throw new InvalidInputException($"{path}: column '{label}' has one class ('{classes[0]}'); classification needs at least two");
        if (classes.Length > CsvTable.MaxLabel + 1)
            throw new InvalidInputException($"{path}: column '{label}' has {classes.Length} distinct labels, more than {CsvTable.MaxLabel + 1} classes");
        var index = classes.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => (long)p.i, StringComparer.Ordinal);
        var labels = cells.Select((cell, r) => index.TryGetValue(cell, out long k) ? k
            : throw new InvalidInputException($"{path}: row {r + 1}, column '{label}': label '{cell}' is not one of the training classes ({string.Join(", ", classes.Take(10))}{(classes.Length > 10 ? ", …" : "")})"))
            .ToArray();
        return (labels, classes);
    }
}
