using Distill.Core.Data;

namespace Distill.Core.Tests.Data;

/// <summary>Labels are checked against the class count, declared (DataOptions.NumClasses, the recipe's
/// data.num_classes) or inferred, on edited copies of the shipped data written by the tests.</summary>
public sealed class ClassLabelTests : IDisposable
{
    private readonly string _dir = TestData.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An uncompressed copy of a shipped IDX labels file with label <paramref name="index"/> set to <paramref name="value"/>.</summary>
    private string EditedLabels(string shipped, int index, byte value)
    {
        byte[] bytes = TestData.Gunzip(Path.Combine(TestData.FashionDir, shipped));
        Assert.NotEqual(value, bytes[8 + index]); // after the 4-byte magic number and the 4-byte count
        bytes[8 + index] = value;
        string path = Path.Combine(_dir, "edited-" + shipped.Replace(".gz", "", StringComparison.Ordinal));
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static DataOptions Fashion(string? trainLabels = null, string? testLabels = null, int? numClasses = null)
    {
        string Shipped(string name) => Path.Combine(TestData.FashionDir, name);
        return TestData.FashionOptions with
        {
            TrainIdx = new IdxFiles(Shipped("train-images-idx3-ubyte.gz"), trainLabels ?? Shipped("train-labels-idx1-ubyte.gz")),
            TestIdx = new IdxFiles(Shipped("t10k-images-idx3-ubyte.gz"), testLabels ?? Shipped("t10k-labels-idx1-ubyte.gz")),
            NumClasses = numClasses,
        };
    }

    [Fact]
    public void An_idx_label_of_200_among_ten_classes_is_refused_naming_the_file_and_its_index()
    {
        string labels = EditedLabels("train-labels-idx1-ubyte.gz", 1234, 200);
        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(Fashion(trainLabels: labels), _dir, seed: 1));
        Assert.Equal($"{labels}: label 200 at index 1234 skips classes: classes 10..199 have no training sample. " +
            "Labels must number the classes 0..K-1; if some classes really have no sample, declare the class count (data.num_classes)", e.Message);
    }

    [Fact]
    public void A_declared_class_count_refuses_a_label_beyond_it_in_either_file()
    {
        string train = EditedLabels("train-labels-idx1-ubyte.gz", 1234, 200);
        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(Fashion(trainLabels: train, numClasses: 10), _dir, seed: 1));
        Assert.Equal($"{train}: label 200 at index 1234 is outside the 10 declared classes 0..9", e.Message);

        string test = EditedLabels("t10k-labels-idx1-ubyte.gz", 7, 10);
        e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(Fashion(testLabels: test, numClasses: 10), _dir, seed: 1));
        Assert.Equal($"{test}: label 10 at index 7 is outside the 10 declared classes 0..9", e.Message);
    }

    [Fact]
    public void An_inferred_class_count_refuses_a_test_label_beyond_the_training_labels()
    {
        string test = EditedLabels("t10k-labels-idx1-ubyte.gz", 7, 200);
        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(Fashion(testLabels: test), _dir, seed: 1));
        Assert.Equal(
            $"{test}: test label 200 at index 7 is outside the training labels' classes 0..9 ({Path.Combine(TestData.FashionDir, "train-labels-idx1-ubyte.gz")})",
            e.Message);
    }

    [Fact]
    public void A_declared_class_count_may_leave_classes_without_samples()
    {
        using var splits = DatasetLoader.Load(Fashion(numClasses: 12), _dir, seed: 1);
        Assert.Equal(12, splits.NumClasses);
    }

    [Fact]
    public void A_csv_label_that_skips_classes_is_refused_naming_its_line()
    {
        // digits.csv.gz has no header: line 5 is the fifth sample; 12 leaves classes 10 and 11 empty.
        string[] lines = System.Text.Encoding.UTF8.GetString(TestData.Gunzip(TestData.DigitsCsv)).Split('\n');
        lines[4] = lines[4][..lines[4].LastIndexOf(',')] + ",12";
        string csv = Path.Combine(_dir, "digits.csv");
        File.WriteAllText(csv, string.Join('\n', lines));

        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(TestData.DigitsOptions with { TrainCsv = csv }, _dir, seed: 1));
        Assert.StartsWith($"{csv}: label 12 at line 5 skips classes: classes 10..11 have no training sample.", e.Message);
        e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(TestData.DigitsOptions with { TrainCsv = csv, NumClasses = 10 }, _dir, seed: 1));
        Assert.Equal($"{csv}: label 12 at line 5 is outside the 10 declared classes 0..9", e.Message);
    }
}
