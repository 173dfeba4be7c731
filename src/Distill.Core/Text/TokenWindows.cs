using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>Fixed-length (input, target) windows for next-token training: target[i] = the token after input[i].
/// Both are int64 tensors [Count, Context] owned by this object.</summary>
public sealed class TokenWindows : IDisposable
{
    private TokenWindows(Tensor inputs, Tensor targets, long tokenCount)
    {
        Inputs = inputs;
        Targets = targets;
        TokenCount = tokenCount;
    }

    public Tensor Inputs { get; }

    public Tensor Targets { get; }

    public long Count => Inputs.shape[0];

    public int Context => (int)Inputs.shape[1];

    /// <summary>Tokens in the segments the windows were cut from (for a <see cref="Subset"/>: count · (context + 1),
    /// the tokens its windows read).</summary>
    public long TokenCount { get; }

    /// <summary>Windows from each segment separately (none crosses a segment boundary): starts 0, stride,
    /// 2·stride, … while start + context + 1 ≤ segment length.</summary>
    public static TokenWindows FromSegments(IReadOnlyList<int[]> segments, int context, int stride)
    {
        ArgumentNullException.ThrowIfNull(segments);
        ArgumentOutOfRangeException.ThrowIfLessThan(context, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        var starts = new List<(int Segment, int Start)>();
        for (int s = 0; s < segments.Count; s++)
        {
            for (int start = 0; start + context + 1 <= segments[s].Length; start += stride)
            {
                starts.Add((s, start));
            }
        }
        var inputs = new long[starts.Count * (long)context];
        var targets = new long[inputs.Length];
        for (int w = 0; w < starts.Count; w++)
        {
            var (segment, start) = starts[w];
            var tokens = segments[segment];
            long offset = w * (long)context;
            for (int t = 0; t < context; t++)
            {
                inputs[offset + t] = tokens[start + t];
                targets[offset + t] = tokens[start + t + 1];
            }
        }
        long tokenCount = segments.Sum(s => (long)s.Length);
        return new TokenWindows(
            tensor(inputs, [starts.Count, context]), tensor(targets, [starts.Count, context]), tokenCount);
    }

    /// <summary>Inputs and targets of the windows <paramref name="indices"/>, in the caller's dispose scope.</summary>
    public (Tensor Input, Tensor Target) Batch(long[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        using var index = tensor(indices);
        return (Inputs.index_select(0, index), Targets.index_select(0, index));
    }

    /// <summary>Windows start..start+length-1, in the caller's dispose scope.</summary>
    public (Tensor Input, Tensor Target) Slice(long start, long length) =>
        (Inputs.narrow(0, start, length), Targets.narrow(0, start, length));

    /// <summary>A copy of windows start..start+count-1 as windows of their own (e.g. to cache a teacher over part
    /// of the training set).</summary>
    public TokenWindows Subset(long start, long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, Count);
        long tokens = count * (Context + 1);
        return new TokenWindows(Inputs.narrow(0, start, count).clone(), Targets.narrow(0, start, count).clone(), tokens);
    }

    /// <summary>A copy of <paramref name="count"/> windows spread evenly over all of them (window ⌊i · Count / count⌋
    /// for i = 0..count-1), or this set's windows copied when there are no more than that.</summary>
    public TokenWindows Spread(long count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (count >= Count)
        {
            return Subset(0, Count);
        }
        var picked = new long[count];
        for (long i = 0; i < count; i++)
        {
            picked[i] = i * Count / count;
        }
        using var index = tensor(picked);
        return new TokenWindows(Inputs.index_select(0, index), Targets.index_select(0, index), count * (Context + 1));
    }

    public void Dispose()
    {
        Inputs.Dispose();
        Targets.Dispose();
    }
}
