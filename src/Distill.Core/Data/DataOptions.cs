using Distill.Core.Text;

namespace Distill.Core.Data;

public enum DataFormat { Idx, Csv, Text, ImageFolder }

public enum NormalizationMode
{
    /// <summary>Features used as read (IDX bytes are still scaled to 0..1).</summary>
    None,
    /// <summary>Per-channel mean and standard deviation measured on the training split.</summary>
    Standard,
    /// <summary>Per-channel mean and standard deviation given in <see cref="DataOptions.Mean"/>/<see cref="DataOptions.Std"/>.</summary>
    Fixed,
}

/// <summary>Random augmentation applied per training batch. Present means the data is not fixed,
/// so teacher outputs cannot be cached.</summary>
public sealed record AugmentOptions
{
    /// <summary>Maximum shift in pixels (zero-padded translation), 0 = off.</summary>
    public int MaxShift { get; init; }
    public bool HorizontalFlip { get; init; }

    /// <summary>Mixup's Beta(α, α) concentration; null = no mixup.</summary>
    public double? MixupAlpha { get; init; }

    /// <summary>CutMix's Beta(α, α) concentration; null = no CutMix.</summary>
    public double? CutMixAlpha { get; init; }

    /// <summary>Whether batches are mixed (mixup or CutMix), so the loss takes class-probability targets.</summary>
    public bool Mixes => MixupAlpha is not null || CutMixAlpha is not null;

    /// <summary>Throws <see cref="InvalidInputException"/> for a negative shift or an α that is not positive.</summary>
    public void Validate()
    {
        if (MaxShift < 0)
            throw new InvalidInputException($"augment max_shift must not be negative, got {MaxShift}.");
        if (MixupAlpha is { } mixup && !(mixup > 0))
            throw new InvalidInputException($"mixup alpha must be > 0, got {mixup}.");
        if (CutMixAlpha is { } cutmix && !(cutmix > 0))
            throw new InvalidInputException($"cutmix alpha must be > 0, got {cutmix}.");
    }
}

public sealed record IdxFiles(string Images, string Labels);

public sealed record DataOptions
{
    public DataFormat Format { get; init; } = DataFormat.Idx;

    // IDX (MNIST family): images and labels for train and test.
    public IdxFiles? TrainIdx { get; init; }
    public IdxFiles? TestIdx { get; init; }

    // CSV: numeric feature columns plus one integer label column.
    public string? TrainCsv { get; init; }
    /// <summary>When null, a stratified <see cref="TestFraction"/> of the training CSV is held out.</summary>
    public string? TestCsv { get; init; }
    /// <summary>Header name of the label column, or null for the last column.</summary>
    public string? LabelColumn { get; init; }
    public bool CsvHasHeader { get; init; } = true;
    /// <summary>Feature columns by header name, read through Microsoft.Data.Analysis (<see cref="NamedCsv"/>); null = every
    /// column but the label.</summary>
    public string[]? CsvFeatures { get; init; }
    /// <summary>Labels are class names (any text), mapped to classes 0..K-1 in ordinal order of the names.</summary>
    public bool CsvLabelNames { get; init; }
    /// <summary>With <see cref="CsvLabelNames"/>: the classes in label order, as a trained model has them (eval); null =
    /// the training file's names, sorted.</summary>
    public string[]? CsvClassNames { get; init; }
    /// <summary>Whether the CSV is read by column name (features named or labels by name) through DataFrame.</summary>
    public bool CsvNamed => CsvFeatures is not null || CsvLabelNames;
    /// <summary>Reshape each CSV row's features to this [C,H,W] shape (e.g. [1,8,8] for digits).</summary>
    public long[]? ImageShape { get; init; }
    /// <summary>Divide CSV features by this value before normalisation (16 for optical digits).</summary>
    public double CsvScale { get; init; } = 1.0;
    /// <summary>CSV without <see cref="TestCsv"/>, image folder without <see cref="TestFolder"/>: the stratified
    /// fraction of the training data held out as test data.</summary>
    public double TestFraction { get; init; } = 0.2;

    // Image folder: one sub-folder per class, of PNG/JPEG images.
    public string? TrainFolder { get; init; }
    /// <summary>When null, a stratified <see cref="TestFraction"/> of the training folder is held out.</summary>
    public string? TestFolder { get; init; }
    public ImageFolderOptions? ImageFolder { get; init; }
    /// <summary>Where decoded image folders are cached (not a recipe key: the run store's data-cache folder); null =
    /// decode every time.</summary>
    public string? ImageCacheDirectory { get; init; }

    /// <summary>The number of classes: labels must be 0..NumClasses-1, and a class may have no sample. Null: the
    /// largest training label + 1, and every class below it must have a training sample.</summary>
    public int? NumClasses { get; init; }

    /// <summary>Stratified fraction of the training data held out for validation.</summary>
    public double ValidationFraction { get; init; } = 0.1;
    public NormalizationMode Normalize { get; init; } = NormalizationMode.Standard;
    public double[]? Mean { get; init; }
    public double[]? Std { get; init; }

    /// <summary>Use at most this many training / test samples (stratified, deterministic).</summary>
    public int? MaxTrain { get; init; }
    public int? MaxTest { get; init; }

    public AugmentOptions? Augment { get; init; }

    // Text (language models): a plain-text corpus and how it becomes token windows.
    public string? TextPath { get; init; }
    public TextDataOptions? Text { get; init; }
    /// <summary>Use at most this many training / validation windows, spread evenly over the corpus.</summary>
    public int? MaxTrainWindows { get; init; }
    public int? MaxValidationWindows { get; init; }
}
