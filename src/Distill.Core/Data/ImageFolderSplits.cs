using System.Globalization;
using static TorchSharp.torch;

namespace Distill.Core.Data;

/// <summary>Train and test data from image folders: a training folder and a test folder with the same classes, or one
/// folder of which a stratified test fraction is held out.</summary>
internal static class ImageFolderSplits
{
    public static void Check(DataOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.TrainFolder) || o.ImageFolder is null)
        {
            throw new InvalidInputException("data: the image_folder format needs a training folder, the image size and the channel count");
        }
        var image = o.ImageFolder;
        if (image.Channels is not (1 or 3) || image.Height <= 0 || image.Width <= 0)
        {
            throw new InvalidInputException($"data: images must be [H, W] > 0 with 1 or 3 channels, got [{image.Height}, {image.Width}] and {image.Channels}");
        }
        if (o.TestFolder is null && !(o.TestFraction > 0 && o.TestFraction < 1))
        {
            throw new InvalidInputException($"data: test fraction {o.TestFraction} must be in (0, 1)");
        }
    }

    /// <summary>Adds the folders (with their content hashes) to <paramref name="files"/> for the fingerprint.</summary>
    public static (TensorDataset Train, TensorDataset Test, string[] ClassNames, IReadOnlyList<string> Notes) Load(DataOptions options, int seed,
        string baseDirectory, List<SourceFile> files, CancellationToken cancel)
    {
        var image = options.ImageFolder!;
        string trainFolder = Path.GetFullPath(Path.Combine(baseDirectory, options.TrainFolder!));
        var train = ImageFolderReader.Read(trainFolder, image, classNames: null, options.ImageCacheDirectory, cancel);
        files.Add(new SourceFile("train-folder", trainFolder, train.ContentHash));
        ImageSamples? test = null;
        if (options.TestFolder is { } testRelative)
        {
            string testFolder = Path.GetFullPath(Path.Combine(baseDirectory, testRelative));
            test = ImageFolderReader.Read(testFolder, image, train.ClassNames, options.ImageCacheDirectory, cancel);
            files.Add(new SourceFile("test-folder", testFolder, test.ContentHash));
        }
        var notes = new List<string>();
        foreach (var samples in test is null ? [train] : new[] { train, test })
        {
            notes.Add(string.Format(CultureInfo.InvariantCulture, "{0}: {1:N0} images of {2} classes {3}", samples.Folder, samples.Labels.Length,
                samples.ClassNames.Length, samples.FromCache ? "read from the image cache" : "decoded"));
            if (samples.Skipped.Count > 0)
            {
                notes.Add(string.Format(CultureInfo.InvariantCulture, "{0}: skipped {1:N0} unreadable images (skip_bad), the first: {2}",
                    samples.Folder, samples.Skipped.Count, samples.Skipped[0]));
            }
        }

        var trainAll = ToDataset(train, image);
        try
        {
            if (test is not null)
            {
                return (trainAll, ToDataset(test, image), train.ClassNames, notes);
            }
            var (heldTrain, heldTest) = DatasetLoader.HoldOutTest(trainAll, options.TestFraction, seed, trainFolder, "images");
            return (heldTrain, heldTest, train.ClassNames, notes);
        }
        catch
        {
            trainAll.Dispose();
            throw;
        }
    }

    /// <summary>Pixels as float32 [N, C, H, W] in 0..1, as IDX bytes are read.</summary>
    private static TensorDataset ToDataset(ImageSamples samples, ImageFolderOptions image)
    {
        using var scope = NewDisposeScope();
        var pixels = tensor(samples.Pixels, [samples.Labels.LongLength, image.Channels, image.Height, image.Width], ScalarType.Byte);
        var features = pixels.to_type(ScalarType.Float32).DivideBy(DataReading.IdxScale);
        var labels = tensor(samples.Labels, ScalarType.Int64);
        return new TensorDataset(features.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }
}
