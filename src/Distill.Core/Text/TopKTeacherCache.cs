using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>The teacher's k largest logits per position and the log of the probability mass (at the cache's
/// temperature) of all other tokens: Indices [.., k] (int16 when the vocabulary fits, else int32), Values
/// [.., k] float32, TailLogMass [..] float32. Tensors belong to the caller's dispose scope.</summary>
public sealed record TopKTargets(Tensor Indices, Tensor Values, Tensor TailLogMass);

/// <summary>Teacher outputs over fixed training windows, computed once and stored as top-k logits plus one tail
/// bucket (<see cref="TopKTargets"/>), so distillation needs no teacher forward pass per step and far less
/// memory than full logits.</summary>
public sealed class TopKTeacherCache : IDisposable
{
    private readonly Tensor _indices;
    private readonly Tensor _values;
    private readonly Tensor _tailLogMass;

    private TopKTeacherCache(Tensor indices, Tensor values, Tensor tailLogMass, int vocabSize, double temperature)
    {
        _indices = indices;
        _values = values;
        _tailLogMass = tailLogMass;
        VocabSize = vocabSize;
        Temperature = temperature;
    }

    public int K => (int)_indices.shape[^1];

    /// <summary>Number of cached windows.</summary>
    public long Count => _indices.shape[0];

    public int Context => (int)_indices.shape[1];

    public int VocabSize { get; }

    /// <summary>The temperature the tail masses were computed at; the loss must use the same.</summary>
    public double Temperature { get; }

    /// <summary>Memory held by the cache.</summary>
    public long Bytes => _indices.numel() * _indices.ElementSize + _values.numel() * _values.ElementSize
        + _tailLogMass.numel() * _tailLogMass.ElementSize;

    /// <summary>What the same positions would take as full float32 logits.</summary>
    public long FullLogitsBytes => Count * Context * (long)VocabSize * sizeof(float);

    /// <summary>Runs <paramref name="teacher"/> once (forward only, batches of <paramref name="batchSize"/> windows)
    /// over all of <paramref name="windows"/>' inputs, in window order.</summary>
    /// <param name="device">Where the windows are fed and the cache is kept; null: where the windows are.</param>
    /// <param name="cancel">Checked before every batch.</param>
    public static TopKTeacherCache Build(ILmLogitSource teacher, TokenWindows windows, int k, double temperature, int batchSize,
        Device? device = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int vocab = teacher.VocabSize;
        ValidateK(k, vocab);
        if (windows.Count == 0)
        {
            throw new ArgumentException("Cannot cache teacher outputs over no windows.", nameof(windows));
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var parts = new List<TopKTargets>();
        for (long start = 0; start < windows.Count; start += batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            using var batchScope = NewDisposeScope();
            long length = Math.Min(batchSize, windows.Count - start);
            var input = windows.Inputs.narrow(0, start, length);
            var logits = teacher.Logits(device is null ? input : ComputeDevice.Move(input, device));
            var part = FromLogits(logits, k, temperature);
            parts.Add(new TopKTargets(part.Indices.MoveToOuterDisposeScope(), part.Values.MoveToOuterDisposeScope(),
                part.TailLogMass.MoveToOuterDisposeScope()));
        }
        var indices = cat(parts.Select(p => p.Indices).ToArray(), 0);
        var values = cat(parts.Select(p => p.Values).ToArray(), 0);
        var tail = cat(parts.Select(p => p.TailLogMass).ToArray(), 0);
        return new TopKTeacherCache(indices.DetachFromDisposeScope(), values.DetachFromDisposeScope(),
            tail.DetachFromDisposeScope(), vocab, temperature);
    }

    /// <summary>Top-k of <paramref name="logits"/> [.., V] and the log of the tail's probability mass under
    /// softmax(logits / temperature) (−∞ when k = V).</summary>
    public static TopKTargets FromLogits(Tensor logits, int k, double temperature)
    {
        ArgumentNullException.ThrowIfNull(logits);
        int vocab = (int)logits.shape[^1];
        ValidateK(k, vocab);
        RequireTemperature(temperature);
        using var scope = NewDisposeScope();
        var floatLogits = logits.to_type(ScalarType.Float32);
        var (values, indices) = floatLogits.topk(k, -1);
        var scaled = floatLogits.DividedBy(temperature);
        var logZ = scaled.logsumexp(-1);
        var tailScaled = scaled.scatter(-1, indices, ScalarMath.FullLike(values, double.NegativeInfinity));
        var tailLogMass = tailScaled.logsumexp(-1) - logZ;
        var indexType = vocab <= short.MaxValue + 1 ? ScalarType.Int16 : ScalarType.Int32;
        return new TopKTargets(indices.to_type(indexType).MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope(),
            tailLogMass.MoveToOuterDisposeScope());
    }

    /// <summary>Cached targets of the windows <paramref name="windowIndices"/>, in the caller's dispose scope.</summary>
    public TopKTargets Batch(long[] windowIndices)
    {
        ArgumentNullException.ThrowIfNull(windowIndices);
        using var index = tensor(windowIndices, device: _indices.device);
        return new TopKTargets(_indices.index_select(0, index), _values.index_select(0, index), _tailLogMass.index_select(0, index));
    }

    /// <summary>T² · KL over the k + 1 buckets (the teacher's top-k tokens and everything else), averaged over
    /// positions. With k = V it equals <see cref="LmLosses.SoftTargetKl"/>.</summary>
    public static Tensor Loss(Tensor studentLogits, TopKTargets teacher, double temperature)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(teacher);
        RequireTemperature(temperature);
        if (!studentLogits.shape[..^1].SequenceEqual(teacher.TailLogMass.shape))
        {
            throw new ArgumentException(
                $"Student logits [{string.Join(",", studentLogits.shape)}] do not match cached positions [{string.Join(",", teacher.TailLogMass.shape)}].");
        }
        using var scope = NewDisposeScope();
        var index = teacher.Indices.to_type(ScalarType.Int64);
        // Teacher: p_i = exp(z_i/T) / Z for the top-k, and the top-k hold 1 − tail of the mass.
        var scaled = teacher.Values.DividedBy(temperature);
        var tailLogMass = teacher.TailLogMass.ClampedBelow(-100.0);
        var topMass = (-tailLogMass.exp()).log1p();
        var teacherLogP = (scaled - scaled.logsumexp(-1, keepdim: true)).Plus(topMass.unsqueeze(-1));
        var teacherP = teacherLogP.exp();
        var teacherTail = tailLogMass.exp();

        var studentLogP = nn.functional.log_softmax(studentLogits.DividedBy(temperature), -1).gather(-1, index);
        var studentTail = studentLogP.exp().sum(-1).From(1).ClampedBelow(1e-12);

        var klTop = (teacherP * (teacherLogP - studentLogP)).sum(-1);
        var klTail = teacherTail * (tailLogMass - studentTail.log());
        return klTop.Plus(klTail).mean().Times(temperature * temperature).MoveToOuterDisposeScope();
    }

    private static void ValidateK(int k, int vocab)
    {
        if (k < 1 || k > vocab)
        {
            throw new InvalidInputException($"Teacher cache top-k must be in 1..{vocab} (the vocabulary), got {k}.");
        }
    }

    private static void RequireTemperature(double temperature)
    {
        if (!(temperature > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive.");
        }
    }

    public void Dispose()
    {
        _indices.Dispose();
        _values.Dispose();
        _tailLogMass.Dispose();
    }
}
