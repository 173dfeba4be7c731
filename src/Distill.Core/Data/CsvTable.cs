using System.Globalization;

namespace Distill.Core.Data;

/// <summary>A numeric CSV table: comma-separated feature columns plus one integer label column,
/// raw or gzip-compressed (recognised by content). Blank lines are skipped.</summary>
public sealed class CsvTable
{
    /// <summary>Labels are class indices; this bound keeps a stray value from asking for a
    /// model with millions of outputs.</summary>
    public const long MaxLabel = 65_535;

    private CsvTable(string path, string[] featureNames, string labelName, float[] features, long[] labels, int[] lines)
    {
        Path = path;
        FeatureNames = featureNames;
        LabelName = labelName;
        Features = features;
        Labels = labels;
        Lines = lines;
    }

    /// <summary>A table read elsewhere (<see cref="NamedCsv"/>); <paramref name="lines"/> number the rows for messages.</summary>
    internal static CsvTable Of(string path, string[] featureNames, string labelName, float[] features, long[] labels, int[] lines) =>
        new(path, featureNames, labelName, features, labels, lines);

    public string Path { get; }
    /// <summary>Header names of the feature columns, or "column N" (1-based) without a header.</summary>
    public IReadOnlyList<string> FeatureNames { get; }
    public string LabelName { get; }
    public int FeatureCount => FeatureNames.Count;
    public int RowCount => Labels.Length;
    /// <summary>Row-major [RowCount, FeatureCount] feature values as read (not scaled).</summary>
    public float[] Features { get; }
    public long[] Labels { get; }
    /// <summary>The file's line number (1-based) of each row, for messages.</summary>
    public int[] Lines { get; }

    /// <summary>Reads <paramref name="path"/>. The label column is found by header name, or is the
    /// last column when <paramref name="labelColumn"/> is null.</summary>
    /// <param name="cancel">Checked every few thousand rows.</param>
    public static CsvTable Read(string path, bool hasHeader, string? labelColumn, CancellationToken cancel = default)
    {
        if (labelColumn is not null && !hasHeader)
        {
            throw new InvalidInputException(
                $"{path}: label column '{labelColumn}' is given by name, but the file is read without a header row");
        }
        try
        {
            using var reader = new StreamReader(DataFile.OpenMaybeGzip(path));
            return Parse(reader, path, hasHeader, labelColumn, cancel);
        }
        catch (Exception e) when (e is IOException or System.IO.InvalidDataException or UnauthorizedAccessException)
        {
            throw DataFile.Unreadable(path, e);
        }
    }

    private static CsvTable Parse(TextReader reader, string path, bool hasHeader, string? labelColumn, CancellationToken cancel)
    {
        string[]? columnNames = null;
        int labelIndex = -1;
        var features = new List<float>();
        var labels = new List<long>();
        var lines = new List<int>();
        int lineNumber = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (lineNumber % 4096 == 0)
            {
                cancel.ThrowIfCancellationRequested();
            }
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            string[] cells = line.Split(',');
            if (columnNames is null)
            {
                columnNames = hasHeader
                    ? cells.Select(c => c.Trim().Trim('"')).ToArray()
                    : Enumerable.Range(1, cells.Length).Select(i => $"column {i}").ToArray();
                labelIndex = FindLabelColumn(columnNames, labelColumn, path, lineNumber);
                if (columnNames.Length < 2)
                {
                    throw new InvalidInputException($"{path}: line {lineNumber}: need at least one feature column and a label column");
                }
                if (hasHeader)
                {
                    continue;
                }
            }
            if (cells.Length != columnNames.Length)
            {
                throw new InvalidInputException(
                    $"{path}: line {lineNumber}: {cells.Length} columns, expected {columnNames.Length} like the first {(hasHeader ? "(header) " : "")}row");
            }
            for (int c = 0; c < cells.Length; c++)
            {
                string cell = cells[c].Trim();
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
                {
                    throw new InvalidInputException(
                        $"{path}: line {lineNumber}, column {c + 1} ({columnNames[c]}): '{cell}' is not a finite number");
                }
                if (c == labelIndex)
                {
                    if (value < 0 || value > MaxLabel || value != Math.Floor(value))
                    {
                        throw new InvalidInputException(
                            $"{path}: line {lineNumber}, column {c + 1} ({columnNames[c]}): label '{cell}' is not a whole number in 0..{MaxLabel}");
                    }
                    labels.Add((long)value);
                    lines.Add(lineNumber);
                }
                else
                {
                    features.Add((float)value);
                }
            }
        }
        if (columnNames is null || labels.Count == 0)
        {
            throw new InvalidInputException($"{path}: no data rows");
        }
        string[] featureNames = columnNames.Where((_, i) => i != labelIndex).ToArray();
        return new CsvTable(path, featureNames, columnNames[labelIndex], features.ToArray(), labels.ToArray(), lines.ToArray());
    }

    private static int FindLabelColumn(string[] names, string? labelColumn, string path, int lineNumber)
    {
        if (labelColumn is null)
        {
            return names.Length - 1;
        }
        int index = Array.IndexOf(names, labelColumn);
        if (index < 0)
        {
            throw new InvalidInputException(
                $"{path}: line {lineNumber}: no column named '{labelColumn}' in the header ({string.Join(", ", names.Take(10))}{(names.Length > 10 ? ", …" : "")})");
        }
        return index;
    }
}
