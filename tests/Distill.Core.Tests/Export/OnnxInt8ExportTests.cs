using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Onnx.Proto;
using Distill.Core.Quantization;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export;

public class OnnxInt8ExportTests(ExportModelsFixture models, ITestOutputHelper output) : IClassFixture<ExportModelsFixture>
{
    private static readonly ExportOptions Int8 = new() { Precision = ExportPrecision.Int8 };
    private readonly OnnxExporter _exporter = new();

    public static TheoryData<string> Schemes => ["int8 asymmetric", "uint8 asymmetric", "int8 symmetric", "7-bit reduce range", "4-bit weights in block1"];

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Int8AgreesWithTheFakeQuantModel(string scheme)
    {
        var config = scheme switch
        {
            "int8 asymmetric" => new QuantConfig(),
            "uint8 asymmetric" => new QuantConfig { Activations = QuantScheme.ActivationUInt8 },
            "int8 symmetric" => new QuantConfig { Activations = new QuantScheme { Symmetric = true } },
            "7-bit reduce range" => new QuantConfig { Activations = QuantScheme.ActivationUInt8 with { Bits = 7 } },
            _ => new QuantConfig { Overrides = [new LayerOverride { Pattern = "block1.*", WeightBits = 4 }] },
        };
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        using var quantized = ExportModelsFixture.Calibrate(models.DigitsCnn, models.Digits, config);
        var info = _exporter.Export(models.DigitsCnn, quantized, Int8, folder.File("int8.onnx"));
        Assert.Equal(("float32", "float32"), (info.InputDType, info.OutputDType));

        var x = models.DigitsAll;
        var fakeQuant = ExportModelsFixture.Logits(quantized, x);
        var logits = RunOnnx(info.Path, x);
        double agreement = Top1Agreement(logits, fakeQuant);
        output.WriteLine($"{scheme}: top-1 agreement with fake-quant {agreement:P2} over {x.shape[0]} digits, max |logit diff| {MaxAbsDiff(logits, fakeQuant):F4}, "
            + $"nodes: {string.Join(" ", Load(info.Path).Graph.Node.Select(n => n.OpType).Distinct())}");
        Assert.True(agreement >= 0.99, $"top-1 agreement {agreement}");

        var model = Load(info.Path);
        var weight = Initializer(model, "block1.conv.weight.quantized");
        Assert.Equal(OnnxGraph.Int8, weight.DataType);
        var codes = weight.RawData.Select(b => (sbyte)b).ToArray();
        int bound = scheme.StartsWith("4-bit", StringComparison.Ordinal) ? 7 : 127;
        Assert.Equal(bound, codes.Max(c => Math.Abs((int)c)));
        // The bias is the float value of its int32 codes on the grid of input scale x weight scale (ONNX Runtime
        // quantises it again at load and gets the same codes). A conv's symmetric weight has no zero-point input; a
        // Gemm's keeps it (QGemm fusion needs it).
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var producer = graph.Node.Where(n => n.Output.Count > 0).ToDictionary(n => n.Output[0]);
        var conv = graph.Node.Single(n => n.Name == "block1.conv");
        float inputScale = FloatValues(initializers[producer[conv.Input[0]].Input[1]])[0];
        var weightScales = FloatValues(initializers[producer[conv.Input[1]].Input[1]]);
        var biasValues = FloatValues(initializers[conv.Input[2]]);
        for (int c = 0; c < biasValues.Length; c++)
        {
            float grid = inputScale * weightScales[weightScales.Length == 1 ? 0 : c];
            double steps = biasValues[c] / grid;
            Assert.True(Math.Abs(steps - Math.Round(steps)) < 1e-3, $"bias[{c}] = {biasValues[c]} is {steps} steps of {grid}");
        }
        Assert.All(graph.Node.Where(n => n.OpType == "Conv"), n => Assert.Equal(2, producer[n.Input[1]].Input.Count));
        Assert.All(graph.Node.Where(n => n.OpType == "Gemm"), n => Assert.Equal(3, producer[n.Input[1]].Input.Count));
    }

    /// <summary>A float initializer's values (the exporter writes every initializer as raw data).</summary>
    private static float[] FloatValues(TensorProto tensor) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();

    [Fact]
    public void Int8MlpAgreesWithTheFakeQuantModel()
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        using var quantized = ExportModelsFixture.Calibrate(models.DigitsMlp, models.DigitsFlat, new QuantConfig());
        var info = _exporter.Export(models.DigitsMlp, quantized, Int8, folder.File("mlp-int8.onnx"));
        OnnxChecker.Check(info.Path);
        var x = cat([models.DigitsFlat.Train.Features, models.DigitsFlat.Validation.Features, models.DigitsFlat.Test.Features]);
        double agreement = Top1Agreement(RunOnnx(info.Path, x), ExportModelsFixture.Logits(quantized, x));
        output.WriteLine($"mlp int8: top-1 agreement {agreement:P2} over {x.shape[0]} digits");
        Assert.True(agreement >= 0.99, $"top-1 agreement {agreement}");
        Assert.Equal(["QuantizeLinear", "DequantizeLinear", "Flatten", "Gemm"], Load(info.Path).Graph.Node.Select(n => n.OpType).Distinct().ToArray());
    }

    [Fact]
    public void Int8AgreesOnFashionMnistAndKeepsPrunedWeightsZero()
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        using var quantized = ExportModelsFixture.Calibrate(models.FashionCnn, models.Fashion, new QuantConfig());
        var fp32 = _exporter.Export(models.FashionCnn, null, new ExportOptions(), folder.File("fp32.onnx"));
        var int8 = _exporter.Export(models.FashionCnn, quantized, Int8, folder.File("int8.onnx"));

        var x = models.Fashion.Test.Features;
        double agreement = Top1Agreement(RunOnnx(int8.Path, x), ExportModelsFixture.Logits(quantized, x));
        double ratio = (double)fp32.SizeBytes / int8.SizeBytes;
        output.WriteLine($"fashion: agreement {agreement:P2} over {x.shape[0]} images; fp32 {fp32.SizeBytes} bytes, int8 {int8.SizeBytes} bytes ({ratio:F2}x smaller)");
        Assert.True(agreement >= 0.99, $"top-1 agreement {agreement}");
        Assert.True(ratio >= 3.5, $"int8 file only {ratio:F2}x smaller");

        var model = Load(int8.Path);
        var fc0 = Initializer(model, "head.fc0.weight.quantized");
        Assert.Equal([128L, 784], fc0.Dims.ToArray());
        using var weight = models.FashionCnn.Graph["head.fc0"].Weight.detach().flatten();
        bool[] pruned = weight.eq(0).data<bool>().ToArray();
        Assert.Equal(models.PrunedFc0, pruned.Count(p => p));
        Assert.All(fc0.RawData.Where((_, i) => pruned[i]), code => Assert.Equal(0, (sbyte)code));
        // The folded conv keeps its pruned zeros too.
        using var conv = models.FashionCnn.Graph["block1.conv"].Weight.detach().flatten();
        bool[] convPruned = conv.eq(0).data<bool>().ToArray();
        Assert.All(Initializer(model, "block1.conv.weight.quantized").RawData.Where((_, i) => convPruned[i]), code => Assert.Equal(0, (sbyte)code));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OnnxRuntimeFusesTheQdqGraphIntoIntegerKernels(bool symmetricActivations)
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var config = symmetricActivations ? new QuantConfig { Activations = new QuantScheme { Symmetric = true } } : new QuantConfig();
        using var quantized = ExportModelsFixture.Calibrate(models.DigitsCnn, models.Digits, config);
        var info = _exporter.Export(models.DigitsCnn, quantized, Int8, folder.File("int8.onnx"));
        string optimized = folder.File("int8.optimized.onnx");
        using (var runner = new OnnxRuntimeRunner(info.Path, new OnnxRunnerOptions { OptimizedModelPath = optimized }))
        {
            runner.Run(models.Digits.Test.Features[..4]);
        }

        var ops = Load(optimized).Graph.Node.Select(n => n.OpType).ToList();
        output.WriteLine($"optimised graph: {string.Join(" ", ops)}");
        Assert.Equal(3, ops.Count(op => op == "QLinearConv"));
        Assert.Equal(2, ops.Count(op => op is "QGemm" or "QLinearMatMul"));
        Assert.DoesNotContain("Conv", ops);
        Assert.DoesNotContain("Gemm", ops);
        Assert.DoesNotContain("MatMul", ops);
    }

    [Fact]
    public void FirstLayerFloatRunsTheFirstConvInFloatAndEverythingAfterItInInteger()
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        using var quantized = ExportModelsFixture.Calibrate(models.FashionCnn, models.Fashion, new QuantConfig { FirstLayerFloat = true });
        Assert.DoesNotContain(quantized.QuantParameters(), p => p.Name is "input" or "block0.conv.weight");
        Assert.Contains(quantized.QuantParameters(), p => p.Name == "block0.conv.output");
        var info = _exporter.Export(models.FashionCnn, quantized, Int8, folder.File("int8.onnx"));
        OnnxChecker.Check(info.Path);

        var x = models.Fashion.Test.Features;
        var fakeQuant = ExportModelsFixture.Logits(quantized, x);
        var logits = RunOnnx(info.Path, x);
        double agreement = Top1Agreement(logits, fakeQuant);
        output.WriteLine($"first layer float: agreement {agreement:P2} over {x.shape[0]} images, max |logit diff| {MaxAbsDiff(logits, fakeQuant):F4}");
        Assert.True(agreement >= 0.99, $"top-1 agreement {agreement}");
        Assert.Equal(OnnxGraph.Float, Initializer(Load(info.Path), "block0.conv.weight").DataType);

        string optimized = folder.File("int8.optimized.onnx");
        using (var runner = new OnnxRuntimeRunner(info.Path, new OnnxRunnerOptions { OptimizedModelPath = optimized }))
        {
            runner.Run(x[..4]);
        }
        var nodes = Load(optimized).Graph.Node;
        output.WriteLine($"optimised graph: {string.Join(" ", nodes.Select(n => n.OpType))}");
        Assert.Equal(1, nodes.Count(n => n.OpType == "Conv"));
        Assert.Equal(1, nodes.Count(n => n.OpType == "QLinearConv"));
        Assert.Equal(2, nodes.Count(n => n.OpType == "QGemm"));
        // The first pool must stay float: with a QuantizeLinear in front of it ORT runs it as a slow NCHW uint8 MaxPool.
        var quantizedTensors = nodes.Where(n => n.OpType == "QuantizeLinear").SelectMany(n => n.Output).ToHashSet();
        Assert.All(nodes.Where(n => n.OpType == "MaxPool"), pool => Assert.DoesNotContain(pool.Input[0], quantizedTensors));

        // An MLP's first layer is linear and holds most of the weights: it stays integer.
        using var mlp = ExportModelsFixture.Calibrate(models.DigitsMlp, models.DigitsFlat, new QuantConfig { FirstLayerFloat = true });
        Assert.Contains(mlp.QuantParameters(), p => p.Name == "input");
        Assert.Contains(mlp.QuantParameters(), p => p.Name == "head.fc0.weight");
    }
}
