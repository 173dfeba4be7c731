using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Pruning;

/// <summary>The pruning criteria as plain functions of weights. Masks are 0/1 float tensors shaped like the
/// weights. An entry that an earlier mask already pruned ranks below every live weight and stays pruned,
/// so masks only ever grow. Returned tensors belong to the caller's dispose scope.</summary>
public static class PruningCriteria
{
    /// <summary>Unstructured magnitude: zero the round(sparsity · n) smallest |w| among all the given weights
    /// taken together (one weight = layer-wise ranking; several = one global ranking).</summary>
    public static Tensor[] Magnitude(IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor?> oldMasks, double sparsity)
    {
        using var noGrad = no_grad();
        var scores = weights.Select((w, i) => Scores(w, oldMasks[i]).flatten()).ToList();
        var all = cat(scores, 0);
        long total = all.shape[0];
        long k = Math.Clamp((long)Math.Round(sparsity * total), 0, total);
        var keep = ones(total, dtype: ScalarType.Float32, device: all.device);
        if (k > 0)
        {
            using var zero = 0.0.ToScalar();
            keep.index_fill_(0, all.topk((int)k, largest: false).indexes, zero);
        }
        var masks = new Tensor[weights.Count];
        long offset = 0;
        for (int i = 0; i < weights.Count; i++)
        {
            long count = weights[i].numel();
            var mask = keep.narrow(0, offset, count).reshape(weights[i].shape);
            masks[i] = oldMasks[i] is { } old ? mask.mul(old) : mask.clone();
            offset += count;
        }
        return masks;
    }

    /// <summary>N:M semi-structured: in every group of M consecutive weights along the input dimension
    /// (input features of a linear layer; input channels of a conv, at each output channel and kernel
    /// position), keep the N largest |w|.</summary>
    public static Tensor NM(Tensor weight, int n, int m, Tensor? oldMask)
    {
        using var noGrad = no_grad();
        long inputs = weight.shape[1];
        if (n < 1 || n >= m || inputs % m != 0)
            throw new ArgumentException($"{n}:{m} does not fit input size {inputs}");
        // Move the input dimension last: [O, I] stays, [O, I, kh, kw] becomes [O, kh, kw, I].
        var order = Enumerable.Range(0, (int)weight.dim()).Where(d => d != 1).Append(1).Select(d => (long)d).ToArray();
        var inverse = new long[order.Length];
        for (int i = 0; i < order.Length; i++)
            inverse[order[i]] = i;
        var scores = Scores(weight, oldMask).permute(order).contiguous();
        var grouped = scores.reshape(-1, m);
        var keep = zeros_like(grouped).scatter_(1, grouped.topk(n, dim: 1).indexes, ones_like(grouped));
        var mask = keep.reshape(scores.shape).permute(inverse).contiguous();
        return oldMask is { } old ? mask.mul(old) : mask;
    }

    /// <summary>L1 or L2 norm of each output channel (dimension 0) of a weight; channels an earlier mask
    /// removed entirely score −1.</summary>
    public static double[] ChannelScores(Tensor weight, ChannelNorm norm, Tensor? oldMask) =>
        ChannelScores([weight], norm, [oldMask]);

    /// <summary>Scores of channels that several layers produce together (a residual stream): channel c's rows of all the
    /// layers taken as one row, so its L1 norm is the sum of theirs and its L2 norm the root of their summed squares.
    /// Channels removed entirely (in every layer) score −1.</summary>
    public static double[] ChannelScores(IReadOnlyList<Tensor> weights, ChannelNorm norm, IReadOnlyList<Tensor?> oldMasks)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = cat(weights.Select(w => w.detach().flatten(1)).ToArray(), 1);
        var oldMask = oldMasks.All(m => m is null) ? null
            : cat(weights.Select((w, i) => oldMasks[i]?.flatten(1) ?? ones(w.shape[0], w.numel() / w.shape[0], device: w.device)).ToArray(), 1);
        var values = norm == ChannelNorm.L1 ? rows.abs().sum(1) : rows.Squared().sum(1).sqrt();
        if (oldMask is not null)
            values = where(Pruned(oldMask.flatten(1).sum(1)), Unscored(values), values);
        return values.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
    }

    /// <summary>Which channels to keep when round(sparsity · channels) of all the given layers' channels
    /// go, lowest score first, ranked together; every layer keeps at least <paramref name="minimum"/>[layer] channels
    /// (default one). Ties go to the lower index.</summary>
    public static bool[][] ChannelKeep(IReadOnlyList<double[]> scores, double sparsity, int[]? minimum = null)
    {
        var keep = scores.Select(s => Enumerable.Repeat(true, s.Length).ToArray()).ToArray();
        var kept = scores.Select(s => s.Length).ToArray();
        int total = kept.Sum();
        int target = (int)Math.Round(sparsity * total);
        var ranked = scores
            .SelectMany((s, layer) => s.Select((score, channel) => (Score: score, Layer: layer, Channel: channel)))
            .OrderBy(c => c.Score).ThenBy(c => c.Layer).ThenBy(c => c.Channel);
        int pruned = 0;
        foreach (var (_, layer, channel) in ranked)
        {
            if (pruned >= target)
                break;
            if (kept[layer] <= (minimum?[layer] ?? 1))
                continue;
            keep[layer][channel] = false;
            kept[layer]--;
            pruned++;
        }
        return keep;
    }

    /// <summary>A mask for a parameter whose dimension 0 indexes channels: whole slices kept or zeroed; on
    /// <paramref name="device"/> (the parameter's) when given.</summary>
    public static Tensor ChannelMask(bool[] keep, long[] shape, Device? device = null)
    {
        var view = new long[shape.Length];
        Array.Fill(view, 1L);
        view[0] = keep.Length;
        var column = tensor(keep.Select(k => k ? 1f : 0f).ToArray(), view, device: device);
        return column.expand(shape).contiguous();
    }

    private static Tensor Scores(Tensor weight, Tensor? oldMask)
    {
        var magnitude = weight.detach().abs();
        return oldMask is null ? magnitude : where(Pruned(oldMask), Unscored(magnitude), magnitude);
    }

    private static Tensor Pruned(Tensor mask)
    {
        using var zero = 0.ToScalar();
        return mask.eq(zero);
    }

    /// <summary>-1 everywhere: below every magnitude, so pruned entries stay pruned.</summary>
    private static Tensor Unscored(Tensor like)
    {
        using var minusOne = (-1.0).ToScalar();
        return full_like(like, minusOne);
    }
}
