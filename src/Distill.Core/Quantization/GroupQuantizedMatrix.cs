namespace Distill.Core.Quantization;

/// <summary>A weight matrix [N outputs, K inputs] (torch Linear layout) quantised to 4-bit codes in groups of
/// <see cref="GroupSize"/> consecutive inputs of one output row, each group with its own scale and zero point:
/// w ≈ (code − zero point) · scale, codes 0..15. Symmetric groups have zero point 8.</summary>
/// <param name="Codes">N × K codes, row-major.</param>
/// <param name="Scales">N × K/GroupSize scales, row-major (the group index fastest).</param>
/// <param name="ZeroPoints">N × K/GroupSize zero points, the same order; all 8 when symmetric.</param>
public sealed record GroupQuantizedMatrix(int Rows, int Columns, int GroupSize, bool Symmetric, byte[] Codes, float[] Scales, byte[] ZeroPoints)
{
    public const int Bits = 4;
    public const int MaxCode = (1 << Bits) - 1;
    public const byte SymmetricZeroPoint = 1 << (Bits - 1);

    public int Groups => Columns / GroupSize;

    /// <summary>The float weights the codes stand for, [N, K] row-major.</summary>
    public float[] Dequantize()
    {
        var values = new float[Rows * Columns];
        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < Columns; c++)
            {
                int g = r * Groups + c / GroupSize;
                values[r * Columns + c] = (Codes[r * Columns + c] - ZeroPoints[g]) * Scales[g];
            }
        }
        return values;
    }

    /// <summary>ONNX Runtime's MatMulNBits B: [N, K/GroupSize, GroupSize/2] bytes, two codes per byte along K, the
    /// first in the low nibble.</summary>
    public byte[] PackedCodes()
    {
        var packed = new byte[Rows * Columns / 2];
        for (int i = 0; i < packed.Length; i++)
        {
            packed[i] = (byte)(Codes[2 * i] | (Codes[2 * i + 1] << 4));
        }
        return packed;
    }

    /// <summary>MatMulNBits zero_points: per row, the groups' zero points two to a byte (low nibble first), each row
    /// padded to whole bytes.</summary>
    public byte[] PackedZeroPoints()
    {
        int perRow = (Groups + 1) / 2;
        var packed = new byte[Rows * perRow];
        for (int r = 0; r < Rows; r++)
        {
            for (int g = 0; g < Groups; g++)
            {
                packed[r * perRow + g / 2] |= (byte)(ZeroPoints[r * Groups + g] << (g % 2 * 4));
            }
        }
        return packed;
    }

    /// <summary>Round to nearest: each group's scale from its own range (symmetric: max |w| / 7, zero point 8;
    /// asymmetric: (max − min) / 15 over a range that includes 0, zero point rounded).</summary>
    public static GroupQuantizedMatrix RoundToNearest(float[] weight, int rows, int columns, int groupSize, bool symmetric)
    {
        var w = Array.ConvertAll(weight, v => (double)v);
        var quantizer = new Builder(rows, columns, groupSize, symmetric);
        for (int c = 0; c < columns; c++)
        {
            if (c % groupSize == 0)
                quantizer.FitGroup(w, c);
            quantizer.QuantizeColumn(w, c);
        }
        return quantizer.Build();
    }

    /// <summary>Fills in codes column by column: a group's scale and zero point are fitted when its first column is
    /// reached (from the weights as they are then, which GPTQ has updated by then).</summary>
    internal sealed class Builder(int rows, int columns, int groupSize, bool symmetric)
    {
        private readonly byte[] _codes = new byte[rows * columns];
        private readonly float[] _scales = new float[rows * (columns / groupSize)];
        private readonly byte[] _zeroPoints = new byte[rows * (columns / groupSize)];

        /// <summary>Fits the scales and zero points of the group that starts at <paramref name="first"/>, one per row,
        /// from <paramref name="w"/> [rows, columns].</summary>
        public void FitGroup(double[] w, int first)
        {
            int groups = columns / groupSize, g = first / groupSize;
            for (int r = 0; r < rows; r++)
            {
                double min = 0, max = 0;
                for (int c = first; c < first + groupSize; c++)
                {
                    min = Math.Min(min, w[r * columns + c]);
                    max = Math.Max(max, w[r * columns + c]);
                }
                double scale;
                byte zero;
                if (symmetric)
                {
                    scale = Math.Max(-min, max) / (SymmetricZeroPoint - 1);
                    zero = SymmetricZeroPoint;
                }
                else
                {
                    scale = (max - min) / MaxCode;
                    zero = scale > 0 ? (byte)Math.Clamp(Math.Round(-min / scale), 0, MaxCode) : SymmetricZeroPoint;
                }
                _scales[r * groups + g] = scale > 0 ? (float)scale : 1f;
                _zeroPoints[r * groups + g] = zero;
            }
        }

        /// <summary>Quantises column <paramref name="c"/> of <paramref name="w"/>; returns the dequantised values.</summary>
        public double[] QuantizeColumn(double[] w, int c)
        {
            int groups = columns / groupSize, g = c / groupSize;
            var dequantized = new double[rows];
            for (int r = 0; r < rows; r++)
            {
                float scale = _scales[r * groups + g];
                byte zero = _zeroPoints[r * groups + g];
                int code = (int)Math.Clamp(Math.Round(w[r * columns + c] / scale, MidpointRounding.ToEven) + zero, 0, MaxCode);
                _codes[r * columns + c] = (byte)code;
                dequantized[r] = (code - zero) * (double)scale;
            }
            return dequantized;
        }

        public GroupQuantizedMatrix Build() => new(rows, columns, groupSize, symmetric, _codes, _scales, _zeroPoints);
    }
}
