using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core;

/// <summary>Tensor arithmetic with numbers whose TorchSharp Scalars stay alive until LibTorch has read them.</summary>
/// <remarks>In TorchSharp 0.107 every number that meets a tensor becomes a <see cref="Scalar"/>: <c>x * 0.5</c>,
/// <c>clamp(min, max)</c>, <c>masked_fill(m, -inf)</c>, and hidden ones too: <c>a + b</c> and <c>a.add(b)</c> pass an
/// implicit alpha of 1, <c>add_(s)</c> likewise, <c>square()</c> is <c>pow(2)</c>. The Scalar reaches LibTorch by its handle
/// alone; once the handle is read the Scalar is unreachable, and a garbage collection started by any thread while LibTorch
/// runs can finalise it mid-call: LibTorch then reads freed memory ("Expected false to be true … toFloat"). Each helper
/// here makes its Scalar itself and disposes it after the call (what dotnet/TorchSharp#1434 does inside TorchSharp), or
/// uses <see cref="One"/>, which a static field keeps alive for the life of the process. Use these in training-step code
/// instead of the operators.</remarks>
internal static class ScalarMath
{
    /// <summary>The alpha of a plain addition; static, so never finalised.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary><c>a + b</c> without TorchSharp's implicit alpha.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a − b</c> (TorchSharp's <c>sub(Tensor)</c> takes no alpha, so this is only for symmetry).</summary>
    public static Tensor Minus(this Tensor a, Tensor b) => a.sub(b);

    public static Tensor Plus(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.add(s, One);
    }

    public static Tensor Plus(this Tensor a, long value)
    {
        using var s = value.ToScalar();
        return a.add(s, One);
    }

    public static Tensor Minus(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.sub(s);
    }

    /// <summary><c>value − a</c>.</summary>
    public static Tensor From(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.neg().add_(s, One);
    }

    /// <summary><c>value − a</c>, keeping an integer tensor integer.</summary>
    public static Tensor From(this Tensor a, long value)
    {
        using var s = value.ToScalar();
        return a.neg().add_(s, One);
    }

    public static Tensor Times(this Tensor a, long value)
    {
        using var s = value.ToScalar();
        return a.mul(s);
    }

    public static Tensor Times(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.mul(s);
    }

    public static Tensor DividedBy(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.div(s);
    }

    public static Tensor DividedBy(this Tensor a, long value)
    {
        using var s = value.ToScalar();
        return a.div(s);
    }

    /// <summary>In place <c>a /= value</c>.</summary>
    public static Tensor DivideBy(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.div_(s);
    }

    public static Tensor Clamped(this Tensor a, double min, double max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return a.clamp(lo, hi);
    }

    public static Tensor ClampedBelow(this Tensor a, double min)
    {
        using var lo = min.ToScalar();
        return a.clamp_min(lo);
    }

    /// <summary><c>full_like(like, value)</c>.</summary>
    public static Tensor FullLike(Tensor like, double value)
    {
        using var s = value.ToScalar();
        return full_like(like, s);
    }

    public static Tensor FilledWhere(this Tensor a, Tensor mask, double value)
    {
        using var s = value.ToScalar();
        return a.masked_fill(mask, s);
    }

    /// <summary><c>a²</c> (TorchSharp's <c>square()</c> is <c>pow(2)</c> with an implicit Scalar).</summary>
    public static Tensor Squared(this Tensor a) => a.mul(a);

    /// <summary><c>bn.call(x)</c> for a 4-D input: in training, TorchSharp's BatchNorm.forward counts the batch with
    /// <c>num_batches_tracked.add_(1)</c> (two implicit Scalars); this does that count with explicit ones and then what
    /// that forward does, <c>batch_norm</c> with the running statistics. Other cases go to <c>bn.call</c>.</summary>
    public static Tensor BatchNormed(this TorchSharp.Modules.BatchNorm2d bn, Tensor x)
    {
        if (!bn.training || !bn.track_running_stats || bn.num_batches_tracked is not { } tracked || x.dim() != 4)
            return bn.call(x);
        tracked.add_(One, One);
        double factor = bn.momentum ?? 1.0 / tracked.item<long>();
        return nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training: true, momentum: factor, eps: bn.eps);
    }

    /// <summary><c>arange(count)</c> with the end as an explicit Scalar.</summary>
    public static Tensor Range(long count, ScalarType dtype, Device? device = null)
    {
        using var start = 0.ToScalar();
        using var end = count.ToScalar();
        return arange(start, end, One, dtype, device);
    }
}
