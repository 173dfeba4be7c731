using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>Teacher logits (and taps) computed once over a fixed data set, looked up by sample index.
/// Valid only when the data has no random augmentation.</summary>
public sealed class TeacherOutputCache : IDisposable
{
    private readonly Tensor _logits;
    private readonly Dictionary<string, Tensor> _taps;

    private TeacherOutputCache(Tensor logits, Dictionary<string, Tensor> taps)
    {
        _logits = logits;
        _taps = taps;
        Count = logits.shape[0];
        Bytes = logits.numel() * logits.ElementSize + taps.Values.Sum(t => t.numel() * t.ElementSize);
    }

    /// <summary>Number of cached samples.</summary>
    public long Count { get; }

    /// <summary>Memory held by the cached tensors.</summary>
    public long Bytes { get; }

    /// <summary>Runs the teacher once in eval mode under no_grad over <paramref name="features"/> in batches,
    /// keeping logits and the named taps in dataset order. The teacher's train/eval mode is restored afterwards.</summary>
    /// <param name="device">Where the batches are fed and the cache is kept (the teacher's and student's device);
    /// null: where <paramref name="features"/> are.</param>
    /// <param name="cancel">Checked before every batch: over a large training set this takes minutes.</param>
    public static TeacherOutputCache Build(ITeacher teacher, Tensor features, IReadOnlyCollection<string> taps, int batchSize,
        Device? device = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(taps);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        foreach (var tap in taps)
        {
            teacher.TapShape(tap);
        }
        long count = features.shape[0];
        if (count == 0)
        {
            throw new ArgumentException("Cannot cache teacher outputs over an empty data set.", nameof(features));
        }

        var module = teacher as nn.Module;
        bool wasTraining = module?.training ?? false;
        module?.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var logitBatches = new List<Tensor>();
            var tapBatches = taps.ToDictionary(t => t, _ => new List<Tensor>());
            for (long start = 0; start < count; start += batchSize)
            {
                cancel.ThrowIfCancellationRequested();
                // A scope per batch frees the teacher's intermediate activations as soon as the batch is done.
                using var batchScope = NewDisposeScope();
                long length = Math.Min(batchSize, count - start);
                var batch = features.narrow(0, start, length);
                var (logits, batchTaps) = teacher.ForwardWithTaps(device is null ? batch : ComputeDevice.Move(batch, device), taps);
                logitBatches.Add(logits.MoveToOuterDisposeScope());
                foreach (var tap in taps)
                {
                    tapBatches[tap].Add(batchTaps[tap].MoveToOuterDisposeScope());
                }
            }
            // The cache owns its tensors: keep them out of every dispose scope, free them in Dispose.
            var allLogits = cat(logitBatches, 0).DetachFromDisposeScope();
            var allTaps = tapBatches.ToDictionary(kv => kv.Key, kv => cat(kv.Value, 0).DetachFromDisposeScope());
            return new TeacherOutputCache(allLogits, allTaps);
        }
        finally
        {
            module?.train(wasTraining);
        }
    }

    /// <summary>Cached outputs of the samples at <paramref name="indices"/>, in that order; the results
    /// belong to the caller's dispose scope.</summary>
    public (Tensor Logits, IReadOnlyDictionary<string, Tensor> Taps) Lookup(long[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        foreach (long index in indices)
        {
            if (index < 0 || index >= Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"The cache holds {Count} samples.");
            }
        }
        using var idx = tensor(indices, device: _logits.device);
        var logits = _logits.index_select(0, idx);
        var taps = _taps.ToDictionary(kv => kv.Key, kv => kv.Value.index_select(0, idx));
        return (logits, taps);
    }

    public void Dispose()
    {
        _logits.Dispose();
        foreach (var tap in _taps.Values)
        {
            tap.Dispose();
        }
    }
}
