using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Data;

/// <summary>Builds train/validation/test splits from IDX or CSV files.</summary>
/// <remarks>Order of operations, all deterministic from the seed: read the files; for CSV without a
/// test file, hold out a stratified <see cref="DataOptions.TestFraction"/> as test; cut stratified
/// <see cref="DataOptions.MaxTrain"/>/<see cref="DataOptions.MaxTest"/> subsets; carve a stratified
/// <see cref="DataOptions.ValidationFraction"/> of the remaining training data out as validation;
/// normalise all three splits with statistics of the final training split only.</remarks>
public static class DatasetLoader
{
    private const int TestHoldOutStream = 1;
    private const int MaxTrainStream = 2;
    private const int MaxTestStream = 3;
    private const int ValidationStream = 4;

    /// <param name="cancel">Checked while the files are read and between the steps after.</param>
    public static DataSplits Load(DataOptions options, string baseDirectory, int seed, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(baseDirectory);
        CheckOptions(options);

        var files = new List<SourceFile>();
        string Resolve(string role, string relative)
        {
            string full = Path.GetFullPath(Path.Combine(baseDirectory, relative));
            files.Add(new SourceFile(role, full));
            return full;
        }

        TensorDataset? train = null, validation = null, test = null;
        try
        {
            int numClasses;
            string[]? classNames = null;
            IReadOnlyList<string> notes = [];
            if (options.Format == DataFormat.ImageFolder)
            {
                (train, test, classNames, notes) = ImageFolderSplits.Load(options, seed, baseDirectory, files, cancel);
                numClasses = classNames.Length;
            }
            else
            {
                (train, test, numClasses, classNames) = options.Format == DataFormat.Idx
                    ? LoadIdx(options, Resolve, cancel)
                    : LoadCsv(options, seed, Resolve, cancel);
            }
            cancel.ThrowIfCancellationRequested();
            string trainSource = files[0].Path;

            long[] trainLabels = train.LabelArray();
            long[] testLabels = test.LabelArray();

            if (options.MaxTrain is int maxTrain && maxTrain < train.Count)
            {
                train = Replace(train, StratifiedSplit.Pick(trainLabels, maxTrain, StratifiedSplit.DeriveSeed(seed, MaxTrainStream)).Picked);
                trainLabels = train.LabelArray();
            }
            if (options.MaxTest is int maxTest && maxTest < test.Count)
            {
                test = Replace(test, StratifiedSplit.Pick(testLabels, maxTest, StratifiedSplit.DeriveSeed(seed, MaxTestStream)).Picked);
            }

            long validationCount = (long)Math.Round(train.Count * options.ValidationFraction, MidpointRounding.AwayFromZero);
            var (validationIndices, trainIndices) = StratifiedSplit.Pick(trainLabels, validationCount, StratifiedSplit.DeriveSeed(seed, ValidationStream));
            if (trainIndices.Length == 0)
            {
                throw new InvalidInputException($"{trainSource}: no training samples left after holding out validation data");
            }
            validation = train.Subset(validationIndices);
            train = Replace(train, trainIndices);

            cancel.ThrowIfCancellationRequested();
            var normalization = Normalize(options, train, validation, test);
            cancel.ThrowIfCancellationRequested();
            return new DataSplits
            {
                Train = train,
                Validation = validation,
                Test = test,
                NumClasses = numClasses,
                InputShape = train.SampleShape,
                Normalization = normalization,
                Reading = DataReading.Of(options) is { } reading && classNames is not null ? reading with { ClassNames = classNames } : DataReading.Of(options),
                Notes = notes,
                Fingerprint = Fingerprint(options, seed, files),
                SourceFiles = files.Select(f => f.Path).ToArray(),
                Augment = options.Augment,
            };
        }
        catch
        {
            train?.Dispose();
            validation?.Dispose();
            test?.Dispose();
            throw;
        }
    }

    private static void CheckOptions(DataOptions o)
    {
        if (o.Format == DataFormat.Idx && (o.TrainIdx is null || o.TestIdx is null))
        {
            throw new InvalidInputException("data: the IDX format needs train and test image and label files");
        }
        if (o.Format == DataFormat.Csv && string.IsNullOrWhiteSpace(o.TrainCsv))
        {
            throw new InvalidInputException("data: the CSV format needs a training CSV file");
        }
        if (o.Format == DataFormat.ImageFolder)
        {
            ImageFolderSplits.Check(o);
        }
        if (!(o.ValidationFraction >= 0 && o.ValidationFraction < 1))
        {
            throw new InvalidInputException($"data: validation fraction {o.ValidationFraction} must be in [0, 1)");
        }
        if (o.Format == DataFormat.Csv && o.TestCsv is null && !(o.TestFraction > 0 && o.TestFraction < 1))
        {
            throw new InvalidInputException($"data: test fraction {o.TestFraction} must be in (0, 1)");
        }
        if (!(double.IsFinite(o.CsvScale) && o.CsvScale > 0))
        {
            throw new InvalidInputException($"data: CSV scale {o.CsvScale} must be a positive number");
        }
        if (o.ImageShape is { } shape && (shape.Length != 3 || shape.Any(d => d <= 0)))
        {
            throw new InvalidInputException($"data: image shape [{string.Join(", ", shape)}] must be three positive sizes [C, H, W]");
        }
        if (o.NumClasses is < 2)
        {
            throw new InvalidInputException($"data: the class count {o.NumClasses} must be at least 2");
        }
        if (o.MaxTrain <= 0 || o.MaxTest <= 0)
        {
            throw new InvalidInputException("data: max train / max test must be positive when given");
        }
        if (o.Normalize == NormalizationMode.Fixed && (o.Mean is null || o.Std is null))
        {
            throw new InvalidInputException("data: fixed normalisation needs both mean and std");
        }
    }

    private static (TensorDataset Train, TensorDataset Test, int NumClasses, string[]? ClassNames) LoadIdx(DataOptions options, Func<string, string, string> resolve, CancellationToken cancel)
    {
        // Resolved in this order: the fingerprint lists the files as they are resolved.
        string trainImages = resolve("train-images", options.TrainIdx!.Images);
        string trainLabels = resolve("train-labels", options.TrainIdx.Labels);
        var train = ReadIdxPair(trainImages, trainLabels, cancel);
        try
        {
            string testImages = resolve("test-images", options.TestIdx!.Images);
            string testLabels = resolve("test-labels", options.TestIdx.Labels);
            var test = ReadIdxPair(testImages, testLabels, cancel);
            try
            {
                if (!test.SampleShape.SequenceEqual(train.SampleShape))
                {
                    throw new InvalidInputException(
                        $"{testImages}: image size [{string.Join(", ", test.SampleShape)}] differs from the training images' [{string.Join(", ", train.SampleShape)}]");
                }
                int classes = ClassLabels.Count(IdxLabels(trainLabels, train), IdxLabels(testLabels, test), options.NumClasses);
                return (train, test, classes, null);
            }
            catch
            {
                test.Dispose();
                throw;
            }
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    private static LabelFile IdxLabels(string path, TensorDataset data) =>
        new(path, data.LabelArray(), i => $"index {i.ToString(CultureInfo.InvariantCulture)}");

    /// <param name="named">Read by <see cref="NamedCsv"/>, whose <see cref="CsvTable.Lines"/> number rows, not lines.</param>
    private static LabelFile CsvLabels(CsvTable table, bool named) =>
        new(table.Path, table.Labels, i => $"{(named ? "row" : "line")} {table.Lines[i].ToString(CultureInfo.InvariantCulture)}");

    private static TensorDataset ReadIdxPair(string imagesPath, string labelsPath, CancellationToken cancel)
    {
        using var scope = NewDisposeScope();
        var images = IdxReader.Read(imagesPath, expectedDimensions: 3, cancel);
        var labels = IdxReader.Read(labelsPath, expectedDimensions: 1, cancel);
        if (images.shape[0] != labels.shape[0])
        {
            throw new InvalidInputException($"{imagesPath}: {images.shape[0]} images but {labelsPath} has {labels.shape[0]} labels");
        }
        if (images.shape[0] == 0)
        {
            throw new InvalidInputException($"{imagesPath}: no images");
        }
        var features = images.unsqueeze(1).to_type(ScalarType.Float32).DivideBy(DataReading.IdxScale);
        return new TensorDataset(features.MoveToOuterDisposeScope(), labels.to_type(ScalarType.Int64).MoveToOuterDisposeScope());
    }

    private static (TensorDataset Train, TensorDataset Test, int NumClasses, string[]? ClassNames) LoadCsv(DataOptions options, int seed, Func<string, string, string> resolve, CancellationToken cancel)
    {
        string[]? classNames = null;
        CsvTable ReadTable(string path, IReadOnlyList<string>? classes)
        {
            if (!options.CsvNamed)
                return CsvTable.Read(path, options.CsvHasHeader, options.LabelColumn, cancel);
            if (!options.CsvHasHeader)
                throw new InvalidInputException($"{path}: columns are named (data.features or data.labels: name), but the file is read without a header row");
            (var table, classNames) = NamedCsv.Read(path, options.CsvFeatures, options.LabelColumn, options.CsvLabelNames, classes, cancel);
            return table;
        }
        var trainTable = ReadTable(resolve("train-csv", options.TrainCsv!), options.CsvClassNames);
        // A test file's class names are the training file's, in the same order.
        var testTable = options.TestCsv is null ? null : ReadTable(resolve("test-csv", options.TestCsv), classNames);
        if (testTable is not null && testTable.FeatureCount != trainTable.FeatureCount)
        {
            throw new InvalidInputException(
                $"{testTable.Path}: {testTable.FeatureCount} feature columns, but {trainTable.Path} has {trainTable.FeatureCount}");
        }
        int classes = ClassLabels.Count(CsvLabels(trainTable, options.CsvNamed), testTable is null ? null : CsvLabels(testTable, options.CsvNamed),
            options.NumClasses ?? classNames?.Length);
        var trainAll = ToDataset(trainTable, options);
        try
        {
            if (testTable is not null)
            {
                return (trainAll, ToDataset(testTable, options), classes, classNames);
            }
            var (heldTrain, heldTest) = HoldOutTest(trainAll, options.TestFraction, seed, trainTable.Path, "rows");
            return (heldTrain, heldTest, classes, classNames);
        }
        catch
        {
            trainAll.Dispose();
            throw;
        }
    }

    private static TensorDataset ToDataset(CsvTable table, DataOptions options)
    {
        long[] shape = [table.RowCount, table.FeatureCount];
        if (options.ImageShape is { } image)
        {
            long perSample = image[0] * image[1] * image[2];
            if (perSample != table.FeatureCount)
            {
                throw new InvalidInputException(
                    $"{table.Path}: {table.FeatureCount} feature columns do not fit image shape [{string.Join(", ", image)}] ({perSample} values)");
            }
            shape = [table.RowCount, image[0], image[1], image[2]];
        }
        using var scope = NewDisposeScope();
        var features = tensor(table.Features, shape, ScalarType.Float32);
        if (options.CsvScale != 1.0)
        {
            features.DivideBy(options.CsvScale);
        }
        var labels = tensor(table.Labels, ScalarType.Int64);
        return new TensorDataset(features.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    /// <summary>Splits a stratified <paramref name="fraction"/> of <paramref name="all"/> off as test data; disposes
    /// <paramref name="all"/> when it succeeds.</summary>
    /// <param name="what">What the samples are, for the message: "rows", "images".</param>
    internal static (TensorDataset Train, TensorDataset Test) HoldOutTest(TensorDataset all, double fraction, int seed, string source, string what)
    {
        long testCount = (long)Math.Round(all.Count * fraction, MidpointRounding.AwayFromZero);
        var (testIndices, trainIndices) = StratifiedSplit.Pick(all.LabelArray(), testCount, StratifiedSplit.DeriveSeed(seed, TestHoldOutStream));
        if (testIndices.Length == 0 || trainIndices.Length == 0)
        {
            throw new InvalidInputException(
                $"{source}: {all.Count} {what} are too few to hold out a test fraction of {fraction}");
        }
        var test = all.Subset(testIndices);
        return (Replace(all, trainIndices), test);
    }

    /// <summary>Returns the subset and disposes the dataset it came from.</summary>
    private static TensorDataset Replace(TensorDataset dataset, long[] indices)
    {
        using (dataset)
        {
            return dataset.Subset(indices);
        }
    }

    private static Normalization? Normalize(DataOptions options, TensorDataset train, TensorDataset validation, TensorDataset test)
    {
        if (options.Normalize == NormalizationMode.None)
        {
            return null;
        }
        // [N, F] tabular rows share one statistic; [N, C, ...] images get one per channel.
        bool perChannel = train.Features.dim() > 2;
        int channels = perChannel ? (int)train.Features.shape[1] : 1;
        Normalization stats = options.Normalize == NormalizationMode.Fixed
            ? FixedStatistics(options, channels)
            : TrainStatistics(train.Features, perChannel);

        using var scope = NewDisposeScope();
        long[] statShape = perChannel
            ? [1, channels, .. Enumerable.Repeat(1L, (int)train.Features.dim() - 2)]
            : [1, 1];
        var mean = tensor(stats.Mean.Select(v => (float)v).ToArray(), statShape, ScalarType.Float32);
        var std = tensor(stats.Std.Select(v => (float)v).ToArray(), statShape, ScalarType.Float32);
        foreach (var split in new[] { train, validation, test })
        {
            split.Features.sub_(mean).div_(std);
        }
        return stats;
    }

    private static Normalization FixedStatistics(DataOptions options, int channels)
    {
        double[] mean = options.Mean!, std = options.Std!;
        if (mean.Length != channels || std.Length != channels)
        {
            throw new InvalidInputException(
                $"data: fixed normalisation has {mean.Length} mean and {std.Length} std values, but the data has {channels} channel(s)");
        }
        if (std.Any(s => !(double.IsFinite(s) && s > 0)) || mean.Any(m => !double.IsFinite(m)))
        {
            throw new InvalidInputException("data: fixed normalisation needs finite means and positive finite standard deviations");
        }
        return new Normalization([.. mean], [.. std]);
    }

    private static Normalization TrainStatistics(Tensor features, bool perChannel)
    {
        using var scope = NewDisposeScope();
        var x = features.to_type(ScalarType.Float64);
        Tensor mean, std;
        if (perChannel)
        {
            long[] reduce = [0, .. Enumerable.Range(2, (int)features.dim() - 2).Select(d => (long)d)];
            mean = x.mean(reduce);
            std = x.std(reduce, unbiased: false);
        }
        else
        {
            mean = x.mean().reshape(1);
            std = x.std(unbiased: false).reshape(1);
        }
        // A constant channel has std 0: leave its scale alone rather than divide by zero.
        double[] stdValues = std.data<double>().Select(s => s > 1e-12 ? s : 1.0).ToArray();
        return new Normalization(mean.data<double>().ToArray(), stdValues);
    }

    private static string Fingerprint(DataOptions o, int seed, List<SourceFile> files)
    {
        // File contents are identified by their hash, not their path, so moving the data keeps the
        // fingerprint; every option that changes which samples land where, or their values, is in.
        var text = new StringBuilder("distill-data v1\n");
        foreach (var file in files)
        {
            text.Append(CultureInfo.InvariantCulture, $"file {file.Role} sha256={file.Sha256 ?? DataFile.Sha256Hex(file.Path)}\n");
        }
        string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        text.Append(CultureInfo.InvariantCulture, $"format={o.Format}\nseed={seed}\nvalidation_fraction={D(o.ValidationFraction)}\n");
        text.Append(CultureInfo.InvariantCulture, $"max_train={o.MaxTrain?.ToString(CultureInfo.InvariantCulture) ?? "-"}\nmax_test={o.MaxTest?.ToString(CultureInfo.InvariantCulture) ?? "-"}\n");
        if (o.Format == DataFormat.Csv)
        {
            text.Append(CultureInfo.InvariantCulture, $"csv_header={o.CsvHasHeader}\nlabel_column={o.LabelColumn ?? "<last>"}\ncsv_scale={D(o.CsvScale)}\n");
            if (o.CsvNamed)
                text.Append(CultureInfo.InvariantCulture, $"features={(o.CsvFeatures is null ? "<all>" : string.Join("\u001f", o.CsvFeatures))}\nlabel_names={o.CsvLabelNames}\n");
            text.Append(CultureInfo.InvariantCulture, $"image_shape={(o.ImageShape is null ? "-" : string.Join("x", o.ImageShape))}\n");
            text.Append(CultureInfo.InvariantCulture, $"test_fraction={(o.TestCsv is null ? D(o.TestFraction) : "-")}\n");
        }
        if (o.Format == DataFormat.ImageFolder && o.ImageFolder is { } image)
        {
            text.Append(CultureInfo.InvariantCulture, $"image_size={image.Height}x{image.Width}\nchannels={image.Channels}\nskip_bad={image.SkipBad}\nconvert_channels={image.ConvertChannels}\n");
            text.Append(CultureInfo.InvariantCulture, $"test_fraction={(o.TestFolder is null ? D(o.TestFraction) : "-")}\n");
        }
        text.Append(CultureInfo.InvariantCulture, $"normalize={o.Normalize}\n");
        if (o.Normalize == NormalizationMode.Fixed)
        {
            text.Append(CultureInfo.InvariantCulture, $"mean={string.Join(",", o.Mean!.Select(D))}\nstd={string.Join(",", o.Std!.Select(D))}\n");
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}

/// <summary>A file (or, for an image folder, a folder) the data was read from; <paramref name="Sha256"/> is its
/// content hash when already known (an image folder's, over all its images), else the file is hashed.</summary>
internal sealed record SourceFile(string Role, string Path, string? Sha256 = null);
