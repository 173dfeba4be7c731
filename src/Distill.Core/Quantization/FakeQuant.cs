using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Quantization;

/// <summary>Simulated quantisation in float: fq(x) = (clamp(round(x·(1/s)) + z, QMin, QMax) − z)·s,
/// with a straight-through estimator for the gradient.</summary>
/// <remarks>
/// The forward value is computed exactly as PyTorch's quantize → dequantize does (multiply by the
/// float32 reciprocal of the scale, round half to even, add the zero point, clamp), so it equals
/// <c>torch.dequantize(torch.quantize_per_tensor(x, s, z, qint8))</c> bit for bit.
/// <para>Gradient: the clipped straight-through estimator, ∂fq/∂x = 1 where round(x/s) + z lies in
/// [QMin, QMax] and 0 where it is clamped. It is built from ordinary differentiable ops rather than a
/// custom autograd function: out = fq + (m·x − detach(m·x)) with m the in-range mask. The bracket is
/// exactly zero in value, so the forward result stays bit-exact, while autograd sees ∂out/∂x = m.
/// (The plain x + detach(fq − x) gives gradient 1 everywhere and is not bit-exact for clamped values.)</para>
/// </remarks>
public static class FakeQuant
{
    /// <summary>Fake-quantises <paramref name="x"/> with fixed qparams. The result belongs to the caller's dispose scope.</summary>
    public static Tensor Apply(Tensor x, QParams qparams)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(qparams);
        using var scope = NewDisposeScope();
        var (scale, zero) = Broadcastable(qparams, x);
        var (fq, inRange) = Forward(x.detach(), scale, zero, qparams.Scheme);
        if (!x.requires_grad)
        {
            return fq.MoveToOuterDisposeScope();
        }
        var passThrough = x * inRange.to_type(x.dtype);
        return fq.Plus(passThrough - passThrough.detach()).MoveToOuterDisposeScope();
    }

    /// <summary>Learned step size quantisation (LSQ, Esser et al. 2019): like <see cref="Apply"/> but the
    /// scale is a tensor that receives a gradient. <paramref name="scale"/> has one element per tensor or
    /// one per channel; the zero points stay fixed.</summary>
    /// <remarks>∂fq/∂s = round(x/s) − x/s inside the range, QMin − z below it, QMax − z above it, times
    /// <paramref name="gradScale"/> (the paper's g = 1/√(N·QMax), see <see cref="LsqGradScale"/>), which keeps the
    /// step size's updates in proportion to the weights'. ∂fq/∂x is the clipped straight-through estimator.</remarks>
    public static Tensor ApplyLsq(Tensor x, Tensor scale, long[] zeroPoint, QuantScheme scheme, double gradScale)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(scale);
        ArgumentNullException.ThrowIfNull(zeroPoint);
        ArgumentNullException.ThrowIfNull(scheme);
        if (scale.numel() != zeroPoint.Length)
        {
            throw new ArgumentException($"scale has {scale.numel()} elements but there are {zeroPoint.Length} zero points");
        }
        using var scope = NewDisposeScope();
        var shape = BroadcastShape(x, zeroPoint.Length, scheme);
        var s = scale.ClampedBelow(QParams.MinScale).reshape(shape);
        var zero = tensor(zeroPoint.Select(z => (float)z).ToArray(), device: x.device).reshape(shape);
        var (fq, inRange) = Forward(x.detach(), s.detach(), zero, scheme);

        var v = x.detach() * s.detach().reciprocal();
        using var qmin = scheme.QMin.ToScalar();
        using var qmax = scheme.QMax.ToScalar();
        var codes = v.round().Plus(zero).clamp(qmin, qmax);
        var scaleGradient = where(inRange, v.round() - v, codes - zero);
        var surrogate = (x * inRange.to_type(x.dtype)).Plus(s.Times(gradScale) * scaleGradient);
        return fq.Plus(surrogate - surrogate.detach()).MoveToOuterDisposeScope();
    }

    /// <summary>LSQ's gradient scale g = 1/√(N·Qp): N = elements sharing one step size (per channel: one
    /// channel's elements; activations: the features of one sample), Qp = the number of positive codes
    /// (QMax, or QMax − z for an unsigned symmetric scheme whose zero point is the middle code).</summary>
    public static double LsqGradScale(long elementsPerScale, QuantScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(elementsPerScale);
        long positiveCodes = Math.Max(1, scheme.Symmetric && !scheme.Signed ? scheme.QMax - (scheme.QMin + scheme.QMax + 1) / 2 : scheme.QMax);
        return 1.0 / Math.Sqrt((double)elementsPerScale * positiveCodes);
    }

    /// <summary>The integer codes clamp(round(x/s) + z, QMin, QMax) as int64, as an integer runtime stores them.</summary>
    public static Tensor Quantize(Tensor x, QParams qparams)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(qparams);
        using var scope = NewDisposeScope();
        var (scale, zero) = Broadcastable(qparams, x);
        using var qmin = qparams.Scheme.QMin.ToScalar();
        using var qmax = qparams.Scheme.QMax.ToScalar();
        var codes = (x.detach() * scale.reciprocal()).round().Plus(zero).clamp(qmin, qmax);
        return codes.to_type(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    private static (Tensor FakeQuantized, Tensor InRange) Forward(Tensor x, Tensor scale, Tensor zero, QuantScheme scheme)
    {
        using var qmin = scheme.QMin.ToScalar();
        using var qmax = scheme.QMax.ToScalar();
        var q = (x * scale.reciprocal()).round().Plus(zero);
        var inRange = q.ge(qmin).logical_and(q.le(qmax));
        var fq = (q.clamp(qmin, qmax) - zero) * scale;
        return (fq, inRange);
    }

    /// <summary>Scale and zero point as float32 tensors on <paramref name="x"/>'s device, shaped to broadcast against it.</summary>
    private static (Tensor Scale, Tensor Zero) Broadcastable(QParams qparams, Tensor x)
    {
        var shape = BroadcastShape(x, qparams.Count, qparams.Scheme);
        var scale = tensor(qparams.Scale, device: x.device).reshape(shape);
        var zero = tensor(qparams.ZeroPoint.Select(z => (float)z).ToArray(), device: x.device).reshape(shape);
        return (scale, zero);
    }

    private static long[] BroadcastShape(Tensor x, int count, QuantScheme scheme)
    {
        if (!scheme.PerChannel)
        {
            if (count != 1)
            {
                throw new ArgumentException($"a per-tensor scheme needs one scale, got {count}");
            }
            return [];
        }
        int axis = scheme.ChannelAxis;
        if (axis >= x.dim())
        {
            throw new ArgumentException($"channel axis {axis} is out of range for a tensor of shape [{string.Join(",", x.shape)}]");
        }
        if (x.shape[axis] != count)
        {
            throw new ArgumentException($"{count} per-channel scales for {x.shape[axis]} channels on axis {axis} of [{string.Join(",", x.shape)}]");
        }
        var shape = Enumerable.Repeat(1L, (int)x.dim()).ToArray();
        shape[axis] = count;
        return shape;
    }
}
