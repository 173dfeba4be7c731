namespace Distill.Core.Data;

/// <summary>Per-channel normalisation that was applied: x' = (x - Mean[c]) / Std[c].
/// For CSV data without an image shape there is one value over all features.</summary>
public sealed record Normalization(double[] Mean, double[] Std);

/// <summary>Train, validation and test data ready for training, with what is needed to record
/// and reproduce them.</summary>
public sealed class DataSplits : IDisposable
{
    public required TensorDataset Train { get; init; }
    public required TensorDataset Validation { get; init; }
    public required TensorDataset Test { get; init; }
    public required int NumClasses { get; init; }
    /// <summary>Shape of one sample, without the batch dimension.</summary>
    public required long[] InputShape { get; init; }
    /// <summary>The normalisation applied to all three splits, or null when none was.</summary>
    public Normalization? Normalization { get; init; }
    /// <summary>How the samples were read from their files, recorded with the models trained on them.</summary>
    public DataReading? Reading { get; init; }
    /// <summary>SHA-256 (hex) over the source files' bytes and the options that change the data.</summary>
    public required string Fingerprint { get; init; }
    /// <summary>Full paths of the files read.</summary>
    public required IReadOnlyList<string> SourceFiles { get; init; }
    /// <summary>What reading the data did that the run log should say (images skipped, read from the cache).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>Augmentation to apply per training batch, or null when the data is fixed.</summary>
    public AugmentOptions? Augment { get; init; }

    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
        Test.Dispose();
    }
}
