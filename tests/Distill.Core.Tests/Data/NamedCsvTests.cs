using System.IO.Compression;
using Distill.Core.Data;

namespace Distill.Core.Tests.Data;

/// <summary>CSV by column name through Microsoft.Data.Analysis: the shipped digits with named columns, and bad tables.</summary>
public sealed class NamedCsvTests
{
    private static readonly string[] Words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    private static string NamedDigits => Path.Combine(TestData.DataDir, "digits", "digits-named.csv.gz");
    private static string[] Pixels => [.. Enumerable.Range(0, 64).Select(i => $"p{i / 8}_{i % 8}")];

    private static string Csv(string text)
    {
        string path = Path.Combine(TestData.NewTempDir(), "table.csv");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void NamedDigitsReadAsTheUnnamedFileWithClassNamesSortedOrdinally()
    {
        var (table, classes) = NamedCsv.Read(NamedDigits, Pixels, "digit", labelNames: true, classNames: null);
        var plain = CsvTable.Read(TestData.DigitsCsv, hasHeader: false, labelColumn: null);

        Assert.Equal(["eight", "five", "four", "nine", "one", "seven", "six", "three", "two", "zero"], classes!);
        Assert.Equal(plain.Features, table.Features);
        // Row i's class is the sorted position of the word for its digit.
        Assert.Equal(plain.Labels.Select(d => (long)Array.IndexOf(classes!, Words[d])), table.Labels);
        Assert.Equal(Pixels, table.FeatureNames);
    }

    [Fact]
    public void FeaturesAreTakenByNameInTheGivenOrderAndOtherColumnsIgnored()
    {
        string path = Csv("id,b,a,species\n1,2,3,cat\n2,5,6,dog\n3,8,9,cat\n");
        var (table, classes) = NamedCsv.Read(path, ["a", "b"], "species", labelNames: true, classNames: null);
        Assert.Equal([3f, 2, 6, 5, 9, 8], table.Features);
        Assert.Equal(["cat", "dog"], classes!);
        Assert.Equal([0L, 1, 0], table.Labels);
    }

    [Fact]
    public void MissingValueIsReportedByRowAndColumn()
    {
        string path = Csv("a,b,species\n1,2,cat\n3,,dog\n");
        var e = Assert.Throws<InvalidInputException>(() => NamedCsv.Read(path, ["a", "b"], "species", true, null));
        Assert.Equal($"{path}: row 2, column 'b': missing value", e.Message);
        path = Csv("a,b,species\n1,2,cat\n3,4,\n");
        e = Assert.Throws<InvalidInputException>(() => NamedCsv.Read(path, ["a", "b"], "species", true, null));
        Assert.Equal($"{path}: row 2, column 'species': missing value", e.Message);
    }

    [Fact]
    public void AbsentColumnsAndNonNumbersAreRefusedNamingTheFile()
    {
        string path = Csv("a,b,species\n1,2,cat\n3,x,dog\n");
        var e = Assert.Throws<InvalidInputException>(() => NamedCsv.Read(path, ["a", "b"], "kind", true, null));
        Assert.Equal($"{path}: no label column named 'kind' in the header (a, b, species)", e.Message);
        e = Assert.Throws<InvalidInputException>(() => NamedCsv.Read(path, ["a", "c"], "species", true, null));
        Assert.Equal($"{path}: no feature column named 'c' in the header (a, b, species)", e.Message);
        e = Assert.Throws<InvalidInputException>(() => NamedCsv.Read(path, ["a", "b"], "species", true, null));
        Assert.Equal($"{path}: row 2, column 'b': 'x' is not a finite number", e.Message);
        e = Assert.Throws<InvalidInputException>(() => NamedCsv.Read(Csv("a,species\n1,cat\n2,dog\n"), ["a"], "species", labelNames: false, null));
        Assert.Contains("row 1, column 'species': label 'cat' is not a whole number in 0..65535; class names need data.labels: name", e.Message);
    }

    [Fact]
    public void LoaderMapsTestLabelsToTheTrainingClassesAndRecordsThem()
    {
        string train = Csv("x,species\n1,setosa\n2,virginica\n3,setosa\n4,virginica\n5,versicolor\n6,versicolor\n");
        string test = Csv("x,species\n1,virginica\n2,setosa\n");
        var options = new DataOptions
        {
            Format = DataFormat.Csv,
            TrainCsv = train,
            TestCsv = test,
            LabelColumn = "species",
            CsvFeatures = ["x"],
            CsvLabelNames = true,
            ValidationFraction = 0,
            Normalize = NormalizationMode.None,
        };
        using (var splits = DatasetLoader.Load(options, "/", seed: 1))
        {
            Assert.Equal(3, splits.NumClasses);
            Assert.Equal(["setosa", "versicolor", "virginica"], splits.Reading!.ClassNames!);
            Assert.Equal(["x"], splits.Reading.Features!);
            Assert.Equal([2L, 0], splits.Test.LabelArray());
        }
        string stray = Csv("x,species\n1,daisy\n");
        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(options with { TestCsv = stray }, "/", seed: 1));
        Assert.Equal($"{stray}: row 1, column 'species': label 'daisy' is not one of the training classes (setosa, versicolor, virginica)", e.Message);
    }

    [Fact]
    public void GzipIsReadAsPlainText()
    {
        string plain = Csv("a,species\n1,cat\n2,dog\n");
        string gz = plain + ".gz";
        using (var output = new GZipStream(File.Create(gz), CompressionLevel.Optimal))
            output.Write(File.ReadAllBytes(plain));
        Assert.Equal([1f, 2], NamedCsv.Read(gz, null, "species", true, null).Table.Features);
    }
}
