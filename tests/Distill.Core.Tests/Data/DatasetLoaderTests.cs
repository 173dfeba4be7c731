using Distill.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Data;

public class DatasetLoaderTests
{
    [Fact]
    public void LoadsFashionSubsetWithStratifiedValidation()
    {
        using var splits = DatasetLoader.Load(TestData.FashionOptions, TestData.FashionDir, seed: 1);

        Assert.Equal(9000, splits.Train.Count);
        Assert.Equal(1000, splits.Validation.Count);
        Assert.Equal(2000, splits.Test.Count);
        Assert.Equal(10, splits.NumClasses);
        Assert.Equal(new long[] { 1, 28, 28 }, splits.InputShape);
        Assert.Equal(new long[] { 9000, 1, 28, 28 }, splits.Train.Features.shape);
        Assert.Equal(ScalarType.Float32, splits.Train.Features.dtype);
        Assert.Equal(Enumerable.Repeat(100L, 10), Histogram(splits.Validation));
        Assert.Equal(Enumerable.Repeat(900L, 10), Histogram(splits.Train));
        Assert.Equal(4, splits.SourceFiles.Count);
        Assert.All(splits.SourceFiles, f => Assert.True(Path.IsPathRooted(f) && File.Exists(f)));
    }

    [Fact]
    public void StandardNormalisationUsesTrainStatisticsOnly()
    {
        using var splits = DatasetLoader.Load(TestData.FashionOptions, TestData.FashionDir, seed: 1);

        var norm = Assert.IsType<Normalization>(splits.Normalization);
        Assert.Single(norm.Mean);
        // Fashion-MNIST pixels average about 0.29 with std about 0.35 (on the 0..1 scale).
        Assert.InRange(norm.Mean[0], 0.25, 0.33);
        Assert.InRange(norm.Std[0], 0.30, 0.40);
        Assert.InRange(splits.Train.Features.mean().item<float>(), -1e-4, 1e-4);
        Assert.InRange(splits.Train.Features.std(unbiased: false).item<float>(), 1 - 1e-4, 1 + 1e-4);
        // The test split is normalised with the train statistics, so it is not exactly centred.
        float testMean = splits.Test.Features.mean().item<float>();
        Assert.NotEqual(0f, testMean);
        Assert.InRange(testMean, -0.1, 0.1);
    }

    [Fact]
    public void PerChannelStandardisation()
    {
        // 3 channels of 2x2 with very different offsets and scales.
        string dir = TestData.NewTempDir();
        var rng = new Random(4);
        var lines = Enumerable.Range(0, 300).Select(r =>
        {
            var cells = Enumerable.Range(0, 12).Select(f => (f / 4 * 100 + rng.NextDouble() * (f / 4 + 1)).ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            return string.Join(",", cells.Append((r % 3).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        });
        File.WriteAllLines(Path.Combine(dir, "rgb.csv"), lines);
        var options = new DataOptions { Format = DataFormat.Csv, TrainCsv = "rgb.csv", CsvHasHeader = false, ImageShape = [3, 2, 2] };

        using var splits = DatasetLoader.Load(options, dir, seed: 2);

        Assert.Equal(new long[] { 3, 2, 2 }, splits.InputShape);
        var norm = splits.Normalization!;
        Assert.Equal(3, norm.Mean.Length);
        Assert.InRange(norm.Mean[2], 200, 203);
        using var scope = NewDisposeScope();
        var mean = splits.Train.Features.mean([0, 2, 3]).data<float>().ToArray();
        var std = splits.Train.Features.std([0, 2, 3], unbiased: false).data<float>().ToArray();
        Assert.All(mean, m => Assert.InRange(m, -1e-3, 1e-3));
        Assert.All(std, s => Assert.InRange(s, 1 - 1e-3, 1 + 1e-3));
    }

    [Fact]
    public void DigitsCsvWithHeldOutTestAndImageShape()
    {
        var options = TestData.DigitsOptions with { ImageShape = [1, 8, 8], ValidationFraction = 0.15 };
        using var splits = DatasetLoader.Load(options, TestData.DataDir, seed: 3);

        Assert.Equal(1797, splits.Train.Count + splits.Validation.Count + splits.Test.Count);
        Assert.Equal(359, splits.Test.Count);
        Assert.Equal(216, splits.Validation.Count);
        Assert.Equal(new long[] { 1, 8, 8 }, splits.InputShape);
        Assert.Equal(10, splits.NumClasses);

        var all = CsvTable.Read(TestData.DigitsCsv, false, null).Labels;
        long[] val = Histogram(splits.Validation), test = Histogram(splits.Test);
        long[] trainPool = Histogram(splits.Train).Zip(val, (a, b) => a + b).ToArray();
        for (int c = 0; c < 10; c++)
        {
            double classTotal = all.Count(l => l == c);
            Assert.InRange(test[c], classTotal * 359 / 1797 - 1, classTotal * 359 / 1797 + 1);
            Assert.InRange(val[c], trainPool[c] * 216.0 / 1438 - 1, trainPool[c] * 216.0 / 1438 + 1);
        }
    }

    [Fact]
    public void SplitsAreDeterministicAndDisjoint()
    {
        var options = TestData.DigitsOptions with { Normalize = NormalizationMode.None };
        using var a = DatasetLoader.Load(options, TestData.DataDir, seed: 5);
        using var b = DatasetLoader.Load(options, TestData.DataDir, seed: 5);
        using var c = DatasetLoader.Load(options, TestData.DataDir, seed: 6);

        Assert.True(TestData.SameValues(a.Validation.Features, b.Validation.Features));
        Assert.True(TestData.SameValues(a.Test.Labels, b.Test.Labels) && TestData.SameValues(a.Train.Features, b.Train.Features));
        Assert.False(TestData.SameValues(a.Validation.Features, c.Validation.Features));

        // Rows as text: each source row lands in exactly one split (the multiset of rows is preserved).
        var table = CsvTable.Read(TestData.DigitsCsv, false, null);
        var source = Enumerable.Range(0, table.RowCount).Select(r => RowKey(table.Features.AsSpan(r * 64, 64).ToArray(), 16f, table.Labels[r]));
        var splitRows = new[] { a.Train, a.Validation, a.Test }.SelectMany(Rows);
        Assert.Equal(source.Order(), splitRows.Order());
    }

    [Fact]
    public void MaxTrainAndMaxTestTakeStratifiedSubsets()
    {
        var options = TestData.FashionOptions with { MaxTrain = 2000, MaxTest = 500 };
        using var splits = DatasetLoader.Load(options, TestData.FashionDir, seed: 9);

        Assert.Equal(2000, splits.Train.Count + splits.Validation.Count);
        Assert.Equal(200, splits.Validation.Count);
        Assert.Equal(Enumerable.Repeat(50L, 10), Histogram(splits.Test));
        Assert.Equal(Enumerable.Repeat(180L, 10), Histogram(splits.Train));
    }

    [Fact]
    public void FixedNormalisationWithWrongChannelCountIsRejected()
    {
        var options = TestData.FashionOptions with { Normalize = NormalizationMode.Fixed, Mean = [0.5, 0.5, 0.5], Std = [0.2, 0.2, 0.2], MaxTrain = 100, MaxTest = 100 };
        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(options, TestData.FashionDir, seed: 1));
        Assert.Contains("1 channel", e.Message);
    }

    [Fact]
    public void FixedNormalisationIsApplied()
    {
        var options = TestData.DigitsOptions with { Normalize = NormalizationMode.Fixed, Mean = [0.5], Std = [0.25] };
        var none = TestData.DigitsOptions with { Normalize = NormalizationMode.None };
        using var fixedSplits = DatasetLoader.Load(options, TestData.DataDir, seed: 1);
        using var raw = DatasetLoader.Load(none, TestData.DataDir, seed: 1);

        Assert.Equal([0.5], fixedSplits.Normalization!.Mean);
        Assert.Null(raw.Normalization);
        Assert.InRange(raw.Train.Features.max().item<float>(), 1f, 1f);
        using var expected = (raw.Test.Features - 0.5f) / 0.25f;
        Assert.True(fixedSplits.Test.Features.allclose(expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void ImageLabelCountMismatchIsRejectedNamingTheFiles()
    {
        string dir = TestData.NewTempDir();
        File.Copy(Path.Combine(TestData.FashionDir, "t10k-images-idx3-ubyte.gz"), Path.Combine(dir, "images.gz"));
        File.Copy(Path.Combine(TestData.FashionDir, "train-labels-idx1-ubyte.gz"), Path.Combine(dir, "labels.gz"));
        var options = TestData.FashionOptions with { TrainIdx = new IdxFiles("images.gz", "labels.gz") };

        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(options, dir, seed: 1));
        Assert.Contains(Path.Combine(dir, "images.gz"), e.Message);
        Assert.Contains("2000 images", e.Message);
        Assert.Contains("10000 labels", e.Message);
    }

    [Fact]
    public void MissingFileIsReportedByPath()
    {
        var options = TestData.FashionOptions with { TrainIdx = new IdxFiles("nope-images.gz", "nope-labels.gz") };
        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(options, TestData.FashionDir, seed: 1));
        Assert.Contains("nope-images.gz", e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void TestLabelBeyondTrainingClassesIsRejected()
    {
        string dir = TestData.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "train.csv"), "x,y\n1,0\n2,1\n3,0\n4,1\n");
        File.WriteAllText(Path.Combine(dir, "test.csv"), "x,y\n1,0\n2,7\n");
        var options = new DataOptions { Format = DataFormat.Csv, TrainCsv = "train.csv", TestCsv = "test.csv", ValidationFraction = 0 };

        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(options, dir, seed: 1));
        Assert.Contains(Path.Combine(dir, "test.csv"), e.Message);
        Assert.Contains("7", e.Message);
    }

    [Fact]
    public void FingerprintFollowsFileBytesAndOptions()
    {
        string dir = TestData.NewTempDir();
        string csv = Path.Combine(dir, "digits.csv");
        byte[] bytes = TestData.Gunzip(TestData.DigitsCsv);
        File.WriteAllBytes(csv, bytes);
        var options = TestData.DigitsOptions with { TrainCsv = "digits.csv" };

        string original = Fingerprint(options, dir, seed: 1);
        Assert.Matches("^[0-9a-f]{64}$", original);
        Assert.Equal(original, Fingerprint(options, dir, seed: 1));

        // The same bytes in another folder: same data, same fingerprint.
        string moved = TestData.NewTempDir();
        File.Copy(csv, Path.Combine(moved, "digits.csv"));
        Assert.Equal(original, Fingerprint(options, moved, seed: 1));

        Assert.NotEqual(original, Fingerprint(options, dir, seed: 2));
        Assert.NotEqual(original, Fingerprint(options with { ValidationFraction = 0.2 }, dir, seed: 1));
        Assert.NotEqual(original, Fingerprint(options with { CsvScale = 1 }, dir, seed: 1));
        Assert.NotEqual(original, Fingerprint(options with { MaxTrain = 1000 }, dir, seed: 1));

        // One byte: the first pixel of the first row, '0' -> '1'.
        Assert.Equal((byte)'0', bytes[0]);
        bytes[0] = (byte)'1';
        File.WriteAllBytes(csv, bytes);
        Assert.NotEqual(original, Fingerprint(options, dir, seed: 1));
    }

    private static string Fingerprint(DataOptions options, string dir, int seed)
    {
        using var splits = DatasetLoader.Load(options, dir, seed);
        return splits.Fingerprint;
    }

    private static long[] Histogram(TensorDataset data)
    {
        using var counts = data.Labels.bincount(null, 10);
        return counts.data<long>().ToArray();
    }

    private static IEnumerable<string> Rows(TensorDataset data)
    {
        float[] x = data.Features.data<float>().ToArray();
        long[] y = data.LabelArray();
        int width = (int)(x.Length / Math.Max(1, y.Length));
        return Enumerable.Range(0, y.Length).Select(r => RowKey(x.AsSpan(r * width, width).ToArray(), 1f, y[r])).ToList();
    }

    private static string RowKey(float[] features, float divisor, long label) =>
        string.Join(",", features.Select(f => MathF.Round(f / divisor * 16f))) + ";" + label;
}
