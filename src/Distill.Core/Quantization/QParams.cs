namespace Distill.Core.Quantization;

/// <summary>A real-valued range per tensor (arrays of length 1) or per channel.</summary>
public sealed record QRange(float[] Min, float[] Max)
{
    public static QRange Single(float min, float max) => new([min], [max]);
}

/// <summary>Scale and zero point of a quantised tensor: one pair per tensor, or one per channel along
/// <see cref="QuantScheme.ChannelAxis"/>. Plain arrays so that they outlive any dispose scope and can
/// be written into exported files as they are.</summary>
public sealed record QParams(QuantScheme Scheme, float[] Scale, long[] ZeroPoint)
{
    /// <summary>Smallest scale, as PyTorch's observers use (float32 machine epsilon): keeps a
    /// constant-zero tensor quantisable.</summary>
    public const float MinScale = 1.1920929e-7f;

    public int Count => Scale.Length;

    /// <summary>Scale and zero point that map [min, max] (widened to include 0, so that zero is exactly
    /// representable, as padding and ReLU need) onto the scheme's integer codes.</summary>
    /// <remarks>Asymmetric: scale = (max − min)/(QMax − QMin), zeroPoint = QMin − round(min/scale).
    /// Symmetric: zeroPoint = 0 (signed) or the middle code (unsigned) and scale = max(|min|, |max|) / n
    /// where n = min(QMax − z, z − QMin), so both ±max(|min|, |max|) are codes (int8: /127, as TensorRT).</remarks>
    public static QParams FromRange(QuantScheme scheme, QRange range)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        ArgumentNullException.ThrowIfNull(range);
        if (range.Min.Length != range.Max.Length || range.Min.Length == 0)
        {
            throw new ArgumentException($"range has {range.Min.Length} minima and {range.Max.Length} maxima");
        }
        int n = range.Min.Length;
        var scales = new float[n];
        var zeroPoints = new long[n];
        for (int i = 0; i < n; i++)
        {
            (scales[i], zeroPoints[i]) = ForOne(scheme, range.Min[i], range.Max[i]);
        }
        return new QParams(scheme, scales, zeroPoints);
    }

    private static (float Scale, long ZeroPoint) ForOne(QuantScheme scheme, float min, float max)
    {
        if (!float.IsFinite(min) || !float.IsFinite(max) || min > max)
        {
            throw new InvalidInputException($"cannot quantise the range [{min}, {max}]: it must be finite with min <= max.");
        }
        double lo = Math.Min(min, 0.0);
        double hi = Math.Max(max, 0.0);
        long qmin = scheme.QMin, qmax = scheme.QMax;
        if (scheme.Symmetric)
        {
            long zero = scheme.Signed ? 0 : (qmin + qmax + 1) / 2;
            double amax = Math.Max(-lo, hi);
            double steps = Math.Min(qmax - zero, zero - qmin);
            return (Math.Max((float)(amax / steps), MinScale), zero);
        }
        float scale = Math.Max((float)((hi - lo) / (qmax - qmin)), MinScale);
        long zeroPoint = qmin - (long)Math.Round(lo / scale, MidpointRounding.ToEven);
        return (scale, Math.Clamp(zeroPoint, qmin, qmax));
    }
}
