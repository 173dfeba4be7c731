using System.IO.Compression;
using Distill.Core.Data;

namespace Distill.Core.Tests.Data;

public class CsvTableTests
{
    [Fact]
    public void ReadsOpticalDigits()
    {
        var table = CsvTable.Read(TestData.DigitsCsv, hasHeader: false, labelColumn: null);

        Assert.Equal(1797, table.RowCount);
        Assert.Equal(64, table.FeatureCount);
        Assert.Equal(1797 * 64, table.Features.Length);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), table.Labels.Distinct().Order());
        Assert.Equal(0f, table.Features.Min());
        Assert.Equal(16f, table.Features.Max());
        // First row of the file: 0,0,5,13,9,1,0,0,… label 0.
        Assert.Equal(new[] { 0f, 0f, 5f, 13f, 9f, 1f, 0f, 0f }, table.Features[..8]);
        Assert.Equal(0, table.Labels[0]);
    }

    [Fact]
    public void LabelColumnIsFoundByHeaderName()
    {
        string path = Write("a,label,b\n1.5,2,3\n4,0,-6e1\n");
        var table = CsvTable.Read(path, hasHeader: true, labelColumn: "label");

        Assert.Equal(new[] { "a", "b" }, table.FeatureNames);
        Assert.Equal(new long[] { 2, 0 }, table.Labels);
        Assert.Equal(new[] { 1.5f, 3f, 4f, -60f }, table.Features);
    }

    [Fact]
    public void GzipIsDetectedByContent()
    {
        string path = Path.Combine(TestData.NewTempDir(), "plain-name.csv");
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.Optimal))
        {
            gz.Write("x,y\n1,1\n2,0\n"u8);
        }
        var table = CsvTable.Read(path, hasHeader: true, labelColumn: null);
        Assert.Equal(new long[] { 1, 0 }, table.Labels);
        Assert.Equal(new[] { 1f, 2f }, table.Features);
    }

    [Fact]
    public void RaggedRowNamesFileAndLine()
    {
        string path = Write("f1,f2,label\n1,2,0\n\n3,1\n");
        var e = Assert.Throws<InvalidInputException>(() => CsvTable.Read(path, hasHeader: true, labelColumn: null));
        Assert.Contains(path, e.Message);
        Assert.Contains("line 4", e.Message);
        Assert.Contains("2 columns, expected 3", e.Message);
    }

    [Fact]
    public void NonNumericCellNamesFileLineAndColumn()
    {
        string path = Write("1,2,0\n3,4,1\n5,abc,1\n");
        var e = Assert.Throws<InvalidInputException>(() => CsvTable.Read(path, hasHeader: false, labelColumn: null));
        Assert.Contains(path, e.Message);
        Assert.Contains("line 3, column 2", e.Message);
        Assert.Contains("'abc'", e.Message);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("NaN")]
    public void BadLabelIsRejected(string label)
    {
        string path = Write($"f,label\n1,0\n2,{label}\n");
        var e = Assert.Throws<InvalidInputException>(() => CsvTable.Read(path, hasHeader: true, labelColumn: null));
        Assert.Contains("line 3, column 2", e.Message);
    }

    [Fact]
    public void MissingLabelColumnIsReported()
    {
        string path = Write("a,b\n1,0\n");
        var e = Assert.Throws<InvalidInputException>(() => CsvTable.Read(path, hasHeader: true, labelColumn: "target"));
        Assert.Contains("'target'", e.Message);
    }

    [Fact]
    public void FileWithoutRowsIsRejected()
    {
        string path = Write("a,label\n");
        var e = Assert.Throws<InvalidInputException>(() => CsvTable.Read(path, hasHeader: true, labelColumn: null));
        Assert.Contains("no data rows", e.Message);
    }

    private static string Write(string text)
    {
        string path = Path.Combine(TestData.NewTempDir(), "table.csv");
        File.WriteAllText(path, text);
        return path;
    }
}
