using Distill.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Quantization;

public class FakeQuantTests
{
    [Theory]
    [InlineData(0.05f, 0L, true)]
    [InlineData(0.0173f, 3L, true)]
    [InlineData(0.1f, -17L, true)]
    [InlineData(0.003f, 127L, true)]
    [InlineData(0.05f, 128L, false)]
    [InlineData(0.0173f, 0L, false)]
    [InlineData(0.0917f, 37L, false)]
    [InlineData(0.2f, 255L, false)]
    public void PerTensorEqualsTorchQuantizeDequantizeBitForBit(float scale, long zeroPoint, bool signed)
    {
        torch.manual_seed(11);
        using var scope = NewDisposeScope();
        // Wide enough that many values clamp, plus exact ties (k + 0.5)·scale to exercise rounding.
        var x = cat([randn(20000) * 6f, (arange(-300, 300).to_type(ScalarType.Float32) + 0.5f) * scale]);
        var scheme = new QuantScheme { Signed = signed };
        var qparams = new QParams(scheme, [scale], [zeroPoint]);

        var expected = dequantize(quantize_per_tensor(x, scale, zeroPoint, signed ? ScalarType.QInt8 : ScalarType.QUInt8));
        var actual = FakeQuant.Apply(x, qparams);

        AssertBitEqual(expected, actual);
        var codes = quantize_per_tensor(x, scale, zeroPoint, signed ? ScalarType.QInt8 : ScalarType.QUInt8).int_repr().to_type(ScalarType.Int64);
        Assert.Equal(codes.data<long>().ToArray(), FakeQuant.Quantize(x, qparams).data<long>().ToArray());
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 0)]
    [InlineData(true, 1)]
    [InlineData(false, 1)]
    public void PerChannelEqualsTorchQuantizeDequantizeBitForBit(bool signed, int axis)
    {
        torch.manual_seed(12);
        using var scope = NewDisposeScope();
        var x = randn(6, 5, 3, 3) * 4f;
        long channels = x.shape[axis];
        var scales = (rand(channels) * 0.1f + 0.01f).data<float>().ToArray();
        var zeroPoints = Enumerable.Range(0, (int)channels).Select(i => signed ? (long)(i * 7 - 12) : (long)(i * 40 + 3)).ToArray();
        var scheme = new QuantScheme { Signed = signed, PerChannel = true, ChannelAxis = axis };
        var qparams = new QParams(scheme, scales, zeroPoints);

        var quantized = quantize_per_channel(x, tensor(scales).to_type(ScalarType.Float64), tensor(zeroPoints), axis,
            signed ? ScalarType.QInt8 : ScalarType.QUInt8);
        AssertBitEqual(dequantize(quantized), FakeQuant.Apply(x, qparams));
        Assert.Equal(quantized.int_repr().to_type(ScalarType.Int64).data<long>().ToArray(), FakeQuant.Quantize(x, qparams).data<long>().ToArray());
    }

    internal static void AssertBitEqual(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        var e = expected.contiguous().data<float>().ToArray();
        var a = actual.contiguous().data<float>().ToArray();
        int mismatches = 0;
        int first = -1;
        for (int i = 0; i < e.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(e[i]) != BitConverter.SingleToInt32Bits(a[i]) && !(e[i] == 0 && a[i] == 0))
            {
                mismatches++;
                first = first < 0 ? i : first;
            }
        }
        Assert.True(mismatches == 0, $"{mismatches} of {e.Length} differ; first at {first}: expected {(first >= 0 ? e[first] : 0):R}, got {(first >= 0 ? a[first] : 0):R}");
    }
}
