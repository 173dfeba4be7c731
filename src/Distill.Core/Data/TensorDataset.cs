using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Data;

/// <summary>An in-memory dataset held as two big tensors: float32 features and int64 labels.
/// Batches are cut by index (index_select), which is far faster than collating per sample.</summary>
public sealed class TensorDataset : IDisposable
{
    /// <summary>Takes ownership of both tensors: they are detached from any dispose scope and
    /// released when the dataset is disposed.</summary>
    public TensorDataset(Tensor features, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (features.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"features must be float32, got {features.dtype}", nameof(features));
        }
        if (labels.dtype != ScalarType.Int64 || labels.dim() != 1)
        {
            throw new ArgumentException($"labels must be a 1-D int64 tensor, got {labels.dtype} with {labels.dim()} dims", nameof(labels));
        }
        if (features.dim() < 1 || features.shape[0] != labels.shape[0])
        {
            throw new ArgumentException($"features have {(features.dim() < 1 ? 0 : features.shape[0])} rows but labels have {labels.shape[0]}");
        }
        Features = features.DetachFromDisposeScope();
        Labels = labels.DetachFromDisposeScope();
    }

    public Tensor Features { get; }
    public Tensor Labels { get; }
    public long Count => Labels.shape[0];

    /// <summary>Per-sample shape of the features (no batch dimension).</summary>
    public long[] SampleShape => Features.shape[1..];

    /// <summary>A new dataset holding copies of the given rows, in the given order.</summary>
    public TensorDataset Subset(long[] indices)
    {
        using var scope = NewDisposeScope();
        var (x, y) = Batch(indices);
        return new TensorDataset(x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
    }

    /// <summary>The rows at <paramref name="indices"/>, on <paramref name="device"/> when given (the data itself stays
    /// where it was loaded, in CPU memory). The results belong to the caller's dispose scope.</summary>
    public (Tensor X, Tensor Y) Batch(long[] indices, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        using var index = tensor(indices, ScalarType.Int64);
        var (x, y) = (Features.index_select(0, index), Labels.index_select(0, index));
        return device is null ? (x, y) : (ComputeDevice.Move(x, device), ComputeDevice.Move(y, device));
    }

    /// <summary>All labels copied to managed memory.</summary>
    public long[] LabelArray() => Labels.data<long>().ToArray();

    public void Dispose()
    {
        Features.Dispose();
        Labels.Dispose();
    }
}
