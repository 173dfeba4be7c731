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

    [Fact]
    public void StraightThroughGradientIsOneInsideTheClampRangeAndZeroOutside()
    {
        using var scope = NewDisposeScope();
        // int8 asymmetric, scale 0.1, zero point 10: codes round(x/0.1) + 10 must lie in [−128, 127],
        // i.e. x/0.1 in [−138.5, 117.5] (ties round to even: −138.5 → −138 is inside, 117.5 → 118 is outside).
        var qparams = new QParams(new QuantScheme(), [0.1f], [10]);
        float[] values = [-50f, -13.86f, -13.84f, -5f, 0f, 2.5f, 11.74f, 11.76f, 40f];
        float[] expected = [0, 0, 1, 1, 1, 1, 1, 0, 0];
        var x = tensor(values).requires_grad_();
        var upstream = tensor(new float[] { 3, 5, 7, 11, 13, 17, 19, 23, 29 });

        (FakeQuant.Apply(x, qparams) * upstream).sum().backward();

        var gradient = x.grad!.data<float>().ToArray();
        var upstreamValues = upstream.data<float>().ToArray();
        Assert.Equal(expected.Select((m, i) => m * upstreamValues[i]).ToArray(), gradient);
    }

    [Fact]
    public void ForwardValueWithGradientEqualsTheValueWithout()
    {
        torch.manual_seed(3);
        using var scope = NewDisposeScope();
        var x = randn(5000) * 3f;
        var qparams = new QParams(new QuantScheme(), [0.0123f], [-7]);
        AssertBitEqual(FakeQuant.Apply(x, qparams), FakeQuant.Apply(x.clone().requires_grad_(), qparams).detach());
    }

    [Fact]
    public void SymmetricNarrowInt8UsesCodesMinus127To127()
    {
        using var scope = NewDisposeScope();
        var scheme = QuantScheme.WeightInt8PerChannel with { PerChannel = false };
        Assert.Equal(-127, scheme.QMin);
        Assert.Equal(127, scheme.QMax);
        var qparams = QParams.FromRange(scheme, QRange.Single(-3f, 5f));
        Assert.Equal(5f / 127f, qparams.Scale[0], 7);
        Assert.Equal(0, qparams.ZeroPoint[0]);
        var codes = FakeQuant.Quantize(tensor(new float[] { -100f, -5f, -3f, 0f, 5f, 100f }), qparams).data<long>().ToArray();
        Assert.Equal(new long[] { -127, -127, -76, 0, 127, 127 }, codes);

        var wide = QParams.FromRange(scheme with { NarrowRange = false }, QRange.Single(-3f, 5f));
        Assert.Equal(-128, FakeQuant.Quantize(tensor(new float[] { -100f }), wide).item<long>());
    }

    [Fact]
    public void FourBitSchemesHaveSixteenCodes()
    {
        using var scope = NewDisposeScope();
        var signed = new QuantScheme { Bits = 4 };
        Assert.Equal((-8L, 7L), (signed.QMin, signed.QMax));
        var unsigned = new QuantScheme { Bits = 4, Signed = false };
        Assert.Equal((0L, 15L), (unsigned.QMin, unsigned.QMax));

        // [0, 1.5] over 15 steps: scale 0.1, and 0 maps to the lowest code.
        var qparams = QParams.FromRange(signed, QRange.Single(0f, 1.5f));
        Assert.Equal(0.1f, qparams.Scale[0], 6);
        Assert.Equal(-8, qparams.ZeroPoint[0]);
        var x = tensor(new float[] { -1f, 0f, 0.73f, 1.5f, 9f });
        Assert.Equal(new long[] { -8, -8, -1, 7, 7 }, FakeQuant.Quantize(x, qparams).data<long>().ToArray());
        var fq = FakeQuant.Apply(x, qparams).data<float>().ToArray();
        Assert.Equal(new[] { 0f, 0f, 0.7f, 1.5f, 1.5f }, fq.Select(v => MathF.Round(v, 5)).ToArray());
        Assert.Equal(16, FakeQuant.Quantize(linspace(-1, 3, 1000), qparams).unique().Item1.numel());
    }

    [Fact]
    public void AsymmetricRangeKeepsZeroExactAndEndpointsWithinHalfAStep()
    {
        using var scope = NewDisposeScope();
        var scheme = QuantScheme.ActivationUInt8;
        var qparams = QParams.FromRange(scheme, QRange.Single(-1f, 3f));
        float scale = qparams.Scale[0];
        Assert.Equal(4f / 255f, scale, 7);
        Assert.Equal(64, qparams.ZeroPoint[0]);
        var fq = FakeQuant.Apply(tensor(new float[] { -1f, 0f, 3f }), qparams).data<float>().ToArray();
        Assert.InRange(fq[0], -1f - scale / 2, -1f + scale / 2);
        Assert.Equal(0f, fq[1]);
        Assert.InRange(fq[2], 3f - scale / 2, 3f + scale / 2);

        // A range that excludes zero is widened to include it; an unsigned symmetric scheme centres on 128.
        var positive = QParams.FromRange(scheme, QRange.Single(2f, 4f));
        Assert.Equal((4f / 255f, 0L), (positive.Scale[0], positive.ZeroPoint[0]));
        var centred = QParams.FromRange(scheme with { Symmetric = true }, QRange.Single(-2f, 1f));
        Assert.Equal((2f / 127f, 128L), (centred.Scale[0], centred.ZeroPoint[0]));
    }

    [Fact]
    public void LsqGradientsFollowTheLsqPaper()
    {
        using var scope = NewDisposeScope();
        var scheme = new QuantScheme { Symmetric = true };
        float s = 0.5f;
        float[] values = [-80f, -1.3f, -0.2f, 0.26f, 1.1f, 63.4f, 70f];
        var x = tensor(values).requires_grad_();
        var scale = tensor(new[] { s }).requires_grad_();
        double g = FakeQuant.LsqGradScale(values.Length, scheme);
        Assert.Equal(1 / Math.Sqrt(values.Length * 127.0), g, 12);

        var fq = FakeQuant.ApplyLsq(x, scale, [0], scheme, g);
        AssertBitEqual(FakeQuant.Apply(x.detach(), new QParams(scheme, [s], [0])), fq.detach());
        fq.sum().backward();

        // ∂/∂s: −128 below the range, 127 above it, round(x/s) − x/s inside; all times g.
        double expected = 0;
        var expectedX = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i] / s;
            double code = Math.Round(v, MidpointRounding.ToEven);
            bool inside = code >= -128 && code <= 127;
            expected += inside ? code - v : Math.Clamp(code, -128, 127);
            expectedX[i] = inside ? 1 : 0;
        }
        Assert.Equal(expected * g, scale.grad!.item<float>(), 4);
        Assert.Equal(expectedX, x.grad!.data<float>().ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(0)]
    [InlineData(16)]
    public void BitsOutsideTwoToEightAreRejected(int bits)
    {
        var scheme = new QuantScheme { Bits = bits };
        var error = Assert.Throws<InvalidInputException>(() => scheme.Validate("weights"));
        Assert.Contains($"got {bits}", error.Message);
        Assert.Contains("between 2 and 8", error.Message);
        Assert.Throws<InvalidInputException>(() => new QuantConfig { Activations = scheme }.Validate());
        Assert.Throws<InvalidInputException>(() => Observers.Create(ObserverKind.MinMax, scheme));
    }

    [Fact]
    public void NonFiniteRangesAreRejected()
    {
        Assert.Throws<InvalidInputException>(() => QParams.FromRange(new QuantScheme(), QRange.Single(float.NaN, 1f)));
        Assert.Throws<InvalidInputException>(() => QParams.FromRange(new QuantScheme(), QRange.Single(0f, float.PositiveInfinity)));
        Assert.Throws<InvalidInputException>(() => QParams.FromRange(new QuantScheme(), QRange.Single(2f, 1f)));
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
