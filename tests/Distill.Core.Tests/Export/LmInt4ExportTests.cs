using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using Distill.Core.Text;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export;

/// <summary>4-bit group-wise weights: round-to-nearest and GPTQ against their definitions, and the MatMulNBits file
/// against the TorchSharp model computing with the same dequantised weights, in ONNX Runtime.</summary>
public class LmInt4ExportTests(ITestOutputHelper output)
{
    private static float[] RandomWeights(int count, int seed, double std = 0.1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(std * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RoundToNearestCodesReconstructEveryWeightWithinHalfItsGroupsStep(bool symmetric)
    {
        const int rows = 6, columns = 64, group = 16;
        var w = RandomWeights(rows * columns, 1);
        w[5] = 0.9f; // an outlier widens its own group only
        var q = GroupQuantizedMatrix.RoundToNearest(w, rows, columns, group, symmetric);
        var back = q.Dequantize();
        Assert.Equal(rows * columns / group, q.Scales.Length);
        for (int i = 0; i < w.Length; i++)
        {
            int g = i / columns * (columns / group) + i % columns / group;
            Assert.InRange(q.Codes[i], 0, 15);
            Assert.True(Math.Abs(w[i] - back[i]) <= q.Scales[g] / 2 + 1e-6, $"weight {i}: {w[i]} came back as {back[i]} (step {q.Scales[g]})");
            if (symmetric)
                Assert.Equal(8, q.ZeroPoints[g]);
        }
        Assert.True(q.Scales[0] > 2 * q.Scales[1], "the outlier's group has the wider step");

        // MatMulNBits packing: two codes a byte along K, the first in the low nibble; zero points likewise per row.
        var packed = q.PackedCodes();
        Assert.Equal(rows * columns / 2, packed.Length);
        Assert.Equal((q.Codes[2] | (q.Codes[3] << 4)), packed[1]);
        var zeros = q.PackedZeroPoints();
        Assert.Equal(rows * 2, zeros.Length);
        Assert.Equal(q.ZeroPoints[4] | (q.ZeroPoints[5] << 4), zeros[2]);
    }

    /// <summary>With H = I no column's error has anywhere to go: GPTQ is round-to-nearest. With correlated inputs it
    /// must give a smaller output error ‖X(W − Ŵ)ᵀ‖² than round-to-nearest, which is what it minimises.</summary>
    [Fact]
    public void GptqIsRoundToNearestForAnIdentityHessianAndBeatsItOnCorrelatedInputs()
    {
        const int rows = 24, columns = 64, samples = 512, group = 32;
        var w = RandomWeights(rows * columns, 2);
        var identity = new double[columns * columns];
        for (int i = 0; i < columns; i++)
            identity[i * columns + i] = 1;
        var rtn = GroupQuantizedMatrix.RoundToNearest(w, rows, columns, group, symmetric: true);
        Assert.Equal(rtn.Codes, Gptq.Quantize(w, rows, columns, identity, group, symmetric: true, dampFraction: 1e-9).Codes);

        // x = z · A: 64 inputs driven by 8 shared factors plus a little noise.
        var z = RandomWeights(samples * 8, 3, 1);
        var a = RandomWeights(8 * columns, 4, 1);
        var noise = RandomWeights(samples * columns, 5, 0.05);
        var x = new double[samples * columns];
        for (int s = 0; s < samples; s++)
            for (int c = 0; c < columns; c++)
                x[s * columns + c] = Enumerable.Range(0, 8).Sum(k => z[s * 8 + k] * (double)a[k * columns + c]) + noise[s * columns + c];
        var h = new double[columns * columns];
        for (int s = 0; s < samples; s++)
            for (int i = 0; i < columns; i++)
                for (int j = 0; j < columns; j++)
                    h[i * columns + j] += 2.0 / samples * x[s * columns + i] * x[s * columns + j];

        foreach (bool symmetric in new[] { true, false })
        {
            double rtnError = OutputError(GroupQuantizedMatrix.RoundToNearest(w, rows, columns, group, symmetric));
            double gptqError = OutputError(Gptq.Quantize(w, rows, columns, h, group, symmetric));
            output.WriteLine($"symmetric {symmetric}: output error rtn {rtnError:G4}, gptq {gptqError:G4}");
            Assert.True(gptqError < 0.7 * rtnError, $"GPTQ {gptqError} vs RTN {rtnError}");
        }

        double OutputError(GroupQuantizedMatrix q)
        {
            var back = q.Dequantize();
            double sum = 0;
            for (int s = 0; s < samples; s++)
                for (int r = 0; r < rows; r++)
                {
                    double d = 0;
                    for (int c = 0; c < columns; c++)
                        d += x[s * columns + c] * (w[r * columns + c] - back[r * columns + c]);
                    sum += d * d;
                }
            return sum / samples;
        }
    }

    private static TransformerLm NewModel(int seed, int dModel = 32)
    {
        manual_seed(seed);
        var model = new TransformerLm(new TransformerLmOptions { Layers = 2, DModel = dModel, Heads = 4, Context = 16, VocabSize = 256 });
        using var noGrad = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal))
                p.normal_(0, 0.1);
            else if (!name.Contains("ln", StringComparison.Ordinal))
                p.mul_(10);
        }
        model.eval();
        return model;
    }

    /// <summary>The file with accuracy_level 0 (float activations) computes what the TorchSharp model computes with
    /// the dequantised weights put in, to float rounding: so codes, packing, scales and zero points are all as
    /// MatMulNBits reads them.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MatMulNBitsFileMatchesTheModelWithDequantisedWeightsInOnnxRuntime(bool symmetric)
    {
        using var folder = new ExportFolder();
        using var model = NewModel(5);
        var layers = LmInt4Quantizer.Quantize(model, new LmInt4Weights(GroupSize: 16, Symmetric: symmetric, Method: Int4Method.Rtn), null);
        Assert.Equal(8, layers.Count); // four linear layers a block; the tied head stays float
        var profile = new TargetProfile { Name = "onnx-int4", Precision = ExportPrecision.Int4 };
        var card = LanguageModelExport.StaticCard(model, ByteTokenizer.Instance, profile, null, new ExportSource(null, "test"), "no calibration");
        var options = profile.ExportOptions(new Dictionary<string, string> { [ModelCard.MetadataKey] = ModelCard.ToJson(card, indented: false) });
        string path = LmOnnxExporter.Export(model, options, folder.File("int4.onnx"), int4: new LmInt4Export(layers, AccuracyLevel: 0)).Path;
        OnnxChecker.Check(path);
        var proto = Load(path);
        Assert.Equal(8, proto.Graph.Node.Count(n => n.OpType == "MatMulNBits" && n.Domain == "com.microsoft"));
        Assert.Contains(proto.OpsetImport, o => o.Domain == "com.microsoft" && o.Version == 1);
        Assert.Equal(symmetric ? 0 : 8, proto.Graph.Initializer.Count(t => t.Name.EndsWith(".zero_points", StringComparison.Ordinal)));

        foreach (var (name, q) in layers)
        {
            var linear = LmInt4Quantizer.Layers(model).Single(l => l.Name == name).Module;
            using var noGrad = no_grad();
            linear.weight!.copy_(tensor(q.Dequantize(), linear.weight.shape));
        }
        var random = new Random(9);
        var tokens = Enumerable.Range(0, 2 * 16).Select(_ => (long)random.Next(256)).ToArray();
        using var runner = new OnnxLmRunner(path);
        var onnx = runner.Logits(tokens, 2, 16);
        float[] torchLogits;
        using (var scope = NewDisposeScope())
        using (var noGrad = no_grad())
            torchLogits = model.forward(tensor(tokens, [2, 16])).contiguous().data<float>().ToArray();
        double max = onnx.Zip(torchLogits, (p, q) => Math.Abs(p - q)).Max();
        output.WriteLine($"symmetric {symmetric}: max |onnx - torch with dequantised weights| {max:E2}, logit range {torchLogits.Max() - torchLogits.Min():F1}");
        Assert.True(max <= 1e-4, $"max |Δ| {max}");
    }

    [Fact]
    public void GroupSizeThatDoesNotDivideALayerIsRefusedNamingTheLayerAndTheSizesThatFit()
    {
        using var model = NewModel(6, dModel: 48);
        var profile = new TargetProfile { Name = "onnx-int4", Precision = ExportPrecision.Int4, Source = "configs/targets/onnx-int4.yaml" };
        var e = Assert.Throws<InvalidInputException>(() => LanguageModelExport.Int4For(profile, model));
        Assert.Equal("configs/targets/onnx-int4.yaml: int4.group_size: 32 does not divide blocks.0.attn.qkv's input size 48; use 16", e.Message);
        Assert.NotNull(LanguageModelExport.Int4For(profile with { Int4 = new LmInt4Weights(GroupSize: 16) }, model));
        Assert.Throws<InvalidInputException>(() => ClassifierExport.CheckProfile(profile));
    }
}
