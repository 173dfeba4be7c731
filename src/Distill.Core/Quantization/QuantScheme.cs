namespace Distill.Core.Quantization;

/// <summary>How one tensor is mapped to integers: q = clamp(round(x/scale) + zeroPoint, QMin, QMax).</summary>
/// <remarks>Signed b-bit codes span [−2^(b−1), 2^(b−1)−1], unsigned [0, 2^b−1]; narrow range drops the
/// lowest code (int8 → [−127, 127], as TFLite wants for weights). Symmetric schemes fix the zero point
/// (0 when signed, the middle code when unsigned) so that the range is centred on zero.</remarks>
public sealed record QuantScheme
{
    public const int MinBits = 2;
    public const int MaxBits = 8;

    public int Bits { get; init; } = 8;
    public bool Symmetric { get; init; }
    /// <summary>One scale and zero point per slice along <see cref="ChannelAxis"/> instead of one per tensor.</summary>
    public bool PerChannel { get; init; }
    /// <summary>Axis of the channels for per-channel schemes: 0 for conv and linear weights ([out, …]).</summary>
    public int ChannelAxis { get; init; }
    public bool NarrowRange { get; init; }
    public bool Signed { get; init; } = true;

    /// <summary>Weights as TFLite and TensorRT want them: int8, symmetric, narrow [−127, 127], per output channel.</summary>
    public static QuantScheme WeightInt8PerChannel { get; } = new() { Symmetric = true, PerChannel = true, NarrowRange = true };

    /// <summary>Activations as TFLite wants them: int8 asymmetric, per tensor.</summary>
    public static QuantScheme ActivationInt8 { get; } = new();

    /// <summary>Activations as QNNPACK/ARM want them: uint8 asymmetric, per tensor.</summary>
    public static QuantScheme ActivationUInt8 { get; } = new() { Signed = false };

    public long QMin => (Signed ? -(1L << (Bits - 1)) : 0) + (NarrowRange ? 1 : 0);
    public long QMax => Signed ? (1L << (Bits - 1)) - 1 : (1L << Bits) - 1;

    /// <summary>Number of integer codes, QMax − QMin + 1.</summary>
    public long Levels => QMax - QMin + 1;

    /// <summary>Throws <see cref="InvalidInputException"/> naming <paramref name="what"/> when the scheme is unusable.</summary>
    public void Validate(string what = "quantisation scheme")
    {
        if (Bits < MinBits || Bits > MaxBits)
        {
            throw new InvalidInputException($"{what}: bits must be between {MinBits} and {MaxBits}, got {Bits}.");
        }
        if (ChannelAxis < 0)
        {
            throw new InvalidInputException($"{what}: channel axis must be 0 or more, got {ChannelAxis}.");
        }
    }

    public override string ToString() =>
        $"{(Signed ? "int" : "uint")}{Bits} {(Symmetric ? "symmetric" : "asymmetric")} " +
        $"{(PerChannel ? $"per-channel(axis {ChannelAxis})" : "per-tensor")}{(NarrowRange ? " narrow" : "")} [{QMin}, {QMax}]";
}
