using Distill.Core.Data;
using SkiaSharp;

namespace Distill.Core.Tests.Data;

/// <summary>Image folders built by the tests: the shipped Fashion-MNIST subset written as PNGs, and RGB images drawn here.</summary>
public sealed class ImageFolderTests
{
    private static readonly ImageFolderOptions Grey28 = new() { Height = 28, Width = 28, Channels = 1 };

    private static IdxFiles FashionTest => new(Path.Combine(TestData.FashionDir, "t10k-images-idx3-ubyte.gz"), Path.Combine(TestData.FashionDir, "t10k-labels-idx1-ubyte.gz"));

    /// <summary>The shipped 2,000-image test subset as a folder of grey PNGs (labels 0..9 as folder names).</summary>
    private static string FashionTestFolder()
    {
        string folder = Path.Combine(TestData.NewTempDir(), "fashion");
        Assert.Equal([2000], ImageFolderWriter.Write([("", FashionTest)], folder));
        return folder;
    }

    private static byte[] DrawnImage(SKColor colour, SKEncodedImageFormat format, int width = 20, int height = 16)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
            canvas.Clear(colour);
        using var data = bitmap.Encode(format, 95);
        return data.ToArray();
    }

    private static string Folder(params (string Class, string File, byte[] Bytes)[] images)
    {
        string root = Path.Combine(TestData.NewTempDir(), "images");
        Directory.CreateDirectory(root);
        foreach (var (cls, file, bytes) in images)
        {
            Directory.CreateDirectory(Path.Combine(root, cls));
            File.WriteAllBytes(Path.Combine(root, cls, file), bytes);
        }
        return root;
    }

    [Fact]
    public void FashionPngsDecodeToTheIdxBytesInClassThenFileOrder()
    {
        string folder = FashionTestFolder();
        var samples = ImageFolderReader.Read(folder, Grey28, classNames: null, cacheDirectory: null);

        var (_, pixels) = IdxReader.ReadBytes(FashionTest.Images, 3);
        var (_, labels) = IdxReader.ReadBytes(FashionTest.Labels, 1);
        // The folder lists class 0's images first, each class in file-index order (the names are zero-padded indices).
        int[] order = Enumerable.Range(0, labels.Length).OrderBy(i => labels[i]).ThenBy(i => i).ToArray();
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], samples.ClassNames);
        Assert.Equal(order.Select(i => (long)labels[i]), samples.Labels);
        byte[] expected = order.SelectMany(i => pixels.Skip(i * 784).Take(784)).ToArray();
        // PNG is lossless: every decoded pixel is the IDX byte.
        Assert.Equal(expected, samples.Pixels);
        Assert.False(samples.FromCache);
        Assert.Empty(samples.Skipped);
    }

    [Fact]
    public void DrawnRgbPngAndJpegAreReadAsRgbResizedAndClassesSortOrdinally()
    {
        var red = new SKColor(200, 30, 40);
        var blue = new SKColor(20, 60, 220);
        string folder = Folder(
            ("apple", "a.png", DrawnImage(red, SKEncodedImageFormat.Png)),
            ("apple", "b.jpg", DrawnImage(red, SKEncodedImageFormat.Jpeg)),
            ("Zebra", "c.JPEG", DrawnImage(blue, SKEncodedImageFormat.Jpeg)),
            ("Zebra", "d.png", DrawnImage(blue, SKEncodedImageFormat.Png)),
            ("Zebra", "notes.txt", "not an image"u8.ToArray()));
        var options = new ImageFolderOptions { Height = 8, Width = 6, Channels = 3 };
        var samples = ImageFolderReader.Read(folder, options, null, null);

        // Ordinal: upper case sorts before lower case, so Zebra is class 0. Files: c.JPEG, d.png, then a.png, b.jpg.
        Assert.Equal(["Zebra", "apple"], samples.ClassNames);
        Assert.Equal([0L, 0, 1, 1], samples.Labels);
        Assert.Equal(4 * 3 * 8 * 6, samples.Pixels.Length);
        SKColor[] colours = [blue, blue, red, red];
        for (int n = 0; n < 4; n++)
        {
            bool png = n is 1 or 2;
            for (int c = 0; c < 3; c++)
            {
                byte want = c == 0 ? colours[n].Red : c == 1 ? colours[n].Green : colours[n].Blue;
                var plane = samples.Pixels.AsSpan((n * 3 + c) * 48, 48).ToArray();
                // A solid PNG resizes to exactly its colour; JPEG's lossy chroma moves a solid colour by a few levels.
                Assert.All(plane, v => Assert.InRange(v, want - (png ? 0 : 8), want + (png ? 0 : 8)));
            }
        }
    }

    [Fact]
    public void ChannelMismatchIsAnErrorNamingTheImageUnlessConverted()
    {
        var colour = new SKColor(200, 100, 50);
        byte[] grey = ImageFolderWriter.GreyPng(Enumerable.Repeat((byte)77, 16).ToArray(), 4, 4);
        string folder = Folder(("a", "rgb.png", DrawnImage(colour, SKEncodedImageFormat.Png, 4, 4)), ("b", "grey.png", grey));

        var asGrey = new ImageFolderOptions { Height = 4, Width = 4, Channels = 1 };
        var e = Assert.Throws<InvalidInputException>(() => ImageFolderReader.Read(folder, asGrey, null, null));
        Assert.Contains(Path.Combine(folder, "a", "rgb.png"), e.Message);
        Assert.Contains("has 3 channel(s) (colour), but data.channels is 1", e.Message);

        var asRgb = new ImageFolderOptions { Height = 4, Width = 4, Channels = 3 };
        e = Assert.Throws<InvalidInputException>(() => ImageFolderReader.Read(folder, asRgb, null, null));
        Assert.Contains(Path.Combine(folder, "b", "grey.png"), e.Message);

        var converted = ImageFolderReader.Read(folder, asGrey with { ConvertChannels = true }, null, null);
        // BT.601 luma of (200, 100, 50): 0.299·200 + 0.587·100 + 0.114·50 = 124.2 → 124; the grey image stays 77.
        Assert.Equal(Enumerable.Repeat((byte)124, 16).Concat(Enumerable.Repeat((byte)77, 16)), converted.Pixels);
        var replicated = ImageFolderReader.Read(folder, asRgb with { ConvertChannels = true }, null, null);
        Assert.Equal(Enumerable.Repeat((byte)77, 48), replicated.Pixels.Skip(48));
    }

    [Fact]
    public void FolderWithoutClassSubFoldersIsRefused()
    {
        string folder = TestData.NewTempDir();
        File.WriteAllBytes(Path.Combine(folder, "loose.png"), DrawnImage(SKColors.Red, SKEncodedImageFormat.Png));
        var e = Assert.Throws<InvalidInputException>(() => ImageFolderReader.Read(folder, Grey28, null, null));
        Assert.StartsWith($"{folder}: no class sub-folders", e.Message);
    }

    [Fact]
    public void ClassFolderWithoutImagesIsRefused()
    {
        string folder = Folder(("cat", "a.png", DrawnImage(SKColors.Red, SKEncodedImageFormat.Png)), ("dog", "readme.txt", [1, 2, 3]));
        var e = Assert.Throws<InvalidInputException>(() => ImageFolderReader.Read(folder, Grey28 with { Channels = 3 }, null, null));
        Assert.Equal($"{Path.Combine(folder, "dog")}: class folder 'dog' has no PNG or JPEG images (.png, .jpg, .jpeg)", e.Message);
    }

    [Fact]
    public void CorruptPngIsReportedByPathOrSkippedWithSkipBad()
    {
        byte[] good = DrawnImage(SKColors.Red, SKEncodedImageFormat.Png);
        string folder = Folder(
            ("a", "good.png", good),
            ("a", "truncated.png", good[..(good.Length / 2)]),
            ("b", "good.png", good),
            ("b", "garbage.png", "\x89PNG not really"u8.ToArray()));
        var rgb = new ImageFolderOptions { Height = 4, Width = 4, Channels = 3 };
        var e = Assert.Throws<InvalidInputException>(() => ImageFolderReader.Read(folder, rgb, null, null));
        Assert.StartsWith($"{Path.Combine(folder, "a", "truncated.png")}: ", e.Message);

        var skipped = ImageFolderReader.Read(folder, rgb with { SkipBad = true }, null, null);
        Assert.Equal([0L, 1], skipped.Labels);
        Assert.Equal(2, skipped.Skipped.Count);
        Assert.StartsWith(Path.Combine(folder, "a", "truncated.png"), skipped.Skipped[0]);
        Assert.StartsWith(Path.Combine(folder, "b", "garbage.png"), skipped.Skipped[1]);
    }

    [Fact]
    public void TheCacheIsReusedUntilAnImageOrTheReadingChanges()
    {
        string folder = FashionTestFolder();
        string cache = TestData.NewTempDir();
        var first = ImageFolderReader.Read(folder, Grey28, null, cache);
        Assert.False(first.FromCache);
        string cacheFile = Assert.Single(Directory.GetFiles(cache));

        // Mark the cache's last pixel: a second read that returns the mark read the cache, not the PNGs.
        byte[] bytes = File.ReadAllBytes(cacheFile);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(cacheFile, bytes);
        var second = ImageFolderReader.Read(folder, Grey28, null, cache);
        Assert.True(second.FromCache);
        Assert.Equal((byte)(first.Pixels[^1] ^ 0xFF), second.Pixels[^1]);
        Assert.Equal(first.Labels, second.Labels);

        // Another image size is another cache file; the first one stays.
        var resized = ImageFolderReader.Read(folder, Grey28 with { Height = 14, Width = 14 }, null, cache);
        Assert.False(resized.FromCache);
        Assert.Equal(2, Directory.GetFiles(cache).Length);

        // One image rewritten (all white): the folder is decoded again, and the cache rewritten in place.
        string changed = Directory.GetFiles(Path.Combine(folder, "9")).Order(StringComparer.Ordinal).Last();
        File.WriteAllBytes(changed, ImageFolderWriter.GreyPng(Enumerable.Repeat((byte)255, 784).ToArray(), 28, 28));
        var third = ImageFolderReader.Read(folder, Grey28, null, cache);
        Assert.False(third.FromCache);
        Assert.NotEqual(first.ContentHash, third.ContentHash);
        Assert.All(third.Pixels[^784..], v => Assert.Equal(255, v));
        Assert.True(ImageFolderReader.Read(folder, Grey28, null, cache).FromCache);
        Assert.Equal(2, Directory.GetFiles(cache).Length);
    }

    [Fact]
    public void LoaderHoldsOutAStratifiedTestFractionAndRecordsTheClassNames()
    {
        string folder = FashionTestFolder();
        var options = new DataOptions
        {
            Format = DataFormat.ImageFolder,
            TrainFolder = folder,
            ImageFolder = Grey28,
            TestFraction = 0.25,
            ValidationFraction = 0.2,
            Normalize = NormalizationMode.None,
        };
        using var splits = DatasetLoader.Load(options, "/", seed: 3);
        Assert.Equal((500L, 300L, 1200L), (splits.Test.Count, splits.Validation.Count, splits.Train.Count));
        Assert.Equal([1L, 28, 28], splits.InputShape);
        Assert.Equal(10, splits.NumClasses);
        Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], splits.Reading!.ClassNames!);
        Assert.Equal(DataFormat.ImageFolder, splits.Reading.Format);
        // Stratified: 50 test images of every class.
        Assert.All(splits.Test.LabelArray().GroupBy(l => l), g => Assert.Equal(50, g.Count()));
        string fingerprint = splits.Fingerprint;

        using (var again = DatasetLoader.Load(options, "/", seed: 3))
            Assert.Equal(fingerprint, again.Fingerprint);
        File.WriteAllBytes(Directory.GetFiles(Path.Combine(folder, "3"))[0], ImageFolderWriter.GreyPng(new byte[784], 28, 28));
        using var changed = DatasetLoader.Load(options, "/", seed: 3);
        Assert.NotEqual(fingerprint, changed.Fingerprint);
    }

    [Fact]
    public void TestFolderClassesMustBeTrainingClasses()
    {
        byte[] png = DrawnImage(SKColors.Red, SKEncodedImageFormat.Png);
        string train = Folder(("cat", "1.png", png), ("dog", "1.png", png));
        string test = Folder(("cat", "1.png", png), ("cow", "1.png", png));
        var options = new DataOptions
        {
            Format = DataFormat.ImageFolder,
            TrainFolder = train,
            TestFolder = test,
            ImageFolder = new ImageFolderOptions { Height = 4, Width = 4, Channels = 3 },
            ValidationFraction = 0,
        };
        var e = Assert.Throws<InvalidInputException>(() => DatasetLoader.Load(options, "/", seed: 1));
        Assert.Equal($"{Path.Combine(test, "cow")}: class 'cow' is not one of the training folder's classes (cat, dog)", e.Message);
    }
}
