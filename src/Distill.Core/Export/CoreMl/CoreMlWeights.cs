using Distill.Core.Export.CoreMl.Proto;
using Distill.Core.Quantization;
using Google.Protobuf;

namespace Distill.Core.Export.CoreMl;

/// <summary>A layer's weights or bias as Core ML <c>WeightParams</c>: float32 (<c>floatValue</c>), IEEE half
/// (<c>float16Value</c>, little-endian), or 8-bit linear quantisation (<c>rawValue</c> read as uint8 with
/// <c>LinearQuantizationParams</c>: W = q · scale + bias, one scale and bias per output channel or one for the tensor).</summary>
internal static class CoreMlWeights
{
    /// <summary>The only width written: <c>rawValue</c> holds one byte per weight at 8 bits (narrower widths are bit-packed).</summary>
    public const int Bits = 8;

    public static WeightParams Float32(float[] values)
    {
        var w = new WeightParams();
        w.FloatValue.AddRange(values);
        return w;
    }

    public static WeightParams Float16(float[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), (Half)values[i]);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("Core ML float16 weights are written on little-endian machines only");
        return new WeightParams { Float16Value = ByteString.CopyFrom(bytes) };
    }

    /// <summary>Weights [channels, ...] in row-major order quantised with <paramref name="scheme"/>'s symmetry and
    /// granularity (its bits must be <see cref="Bits"/>; Core ML codes are unsigned, so a symmetric code c is stored as
    /// c + 128 with bias −128 · scale). Asymmetric: the range [min(w, 0), max(w, 0)] in 255 steps, scale = range / 255,
    /// zero point z = round(−min / scale), bias = −z · scale, so that a zero weight (pruned) stays exactly zero.
    /// Symmetric: scale = max|w| / 127, codes in [−127, 127].</summary>
    public static WeightParams Linear(float[] values, int channels, QuantScheme scheme)
    {
        if (scheme.Bits != Bits)
            throw new InvalidInputException($"Core ML export writes {Bits}-bit weights, not {scheme.Bits}-bit");
        int groups = scheme.PerChannel ? channels : 1;
        int per = values.Length / groups;
        var raw = new byte[values.Length];
        var linear = new LinearQuantizationParams();
        for (int g = 0; g < groups; g++)
        {
            var slice = values.AsSpan(g * per, per);
            var (scale, offset) = Range(slice, scheme);
            for (int i = 0; i < per; i++)
            {
                double q = Math.Round((slice[i] - offset) / scale, MidpointRounding.ToEven);
                raw[(g * per) + i] = (byte)Math.Clamp(q, 0, 255);
            }
            linear.Scale.Add(scale);
            linear.Bias.Add(offset);
        }
        return new WeightParams
        {
            RawValue = ByteString.CopyFrom(raw),
            Quantization = new QuantizationParams { NumberOfBits = Bits, LinearQuantization = linear },
        };
    }

    private static (float Scale, float Offset) Range(ReadOnlySpan<float> values, QuantScheme scheme)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float v in values)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        if (scheme.Symmetric)
        {
            float absMax = Math.Max(Math.Abs(min), Math.Abs(max));
            float scale = absMax > 0 ? absMax / 127f : 1f;
            return (scale, -128f * scale);
        }
        float low = Math.Min(min, 0f), high = Math.Max(max, 0f);
        if (high == low)
            return (1f, 0f);
        float step = (high - low) / 255f;
        return (step, -MathF.Round(-low / step, MidpointRounding.ToEven) * step);
    }
}
