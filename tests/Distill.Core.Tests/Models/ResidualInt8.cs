using Distill.Core.Data;
using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Tests.Export;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

/// <summary>The int8 path of a residual model: calibrated fake-quant model, its QDQ ONNX file in ONNX Runtime, and the
/// kernels ONNX Runtime's optimiser turns the graph into.</summary>
internal static class ResidualInt8
{
    /// <summary>As configs/targets/x86-vnni.yaml: int8 symmetric per-channel weights, int8 asymmetric activations, a float stem.</summary>
    public static QuantConfig X86Vnni => new()
    {
        Weights = QuantScheme.WeightInt8PerChannel,
        Activations = QuantScheme.ActivationInt8,
        FirstLayerFloat = true,
    };

    /// <summary>As configs/targets/npu-u8.yaml: uint8 asymmetric per-tensor weights and activations, an integer stem.</summary>
    public static QuantConfig NpuU8 => new()
    {
        Weights = new QuantScheme { Signed = false },
        Activations = QuantScheme.ActivationUInt8,
    };

    public static QuantConfig Named(string target) => target == "x86-vnni" ? X86Vnni : NpuU8;

    /// <summary>Quantises <paramref name="model"/> with <paramref name="config"/>, exports it to int8 ONNX and checks: the
    /// fake-quant model within 3 points of the float one on the test split, the ONNX file agreeing with the fake-quant
    /// model on ≥ 99 % of all digits, and every residual add and the average pool running as integer kernels in ONNX
    /// Runtime's optimised graph (no float Add or GlobalAveragePool left).</summary>
    public static void Check(ZooModel model, DataSplits digits, QuantConfig config, string target, int adds, ITestOutputHelper output)
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        using var quantized = ExportModelsFixture.Calibrate(model, digits, config);
        var test = digits.Test;
        double floatAccuracy = Accuracy(ExportModelsFixture.Logits(model, test.Features), test.Labels);
        double fakeAccuracy = Accuracy(ExportModelsFixture.Logits(quantized, test.Features), test.Labels);
        Assert.Contains(quantized.QuantParameters(), p => p.Name == "pool.output");
        Assert.Equal(adds, quantized.QuantParameters().Count(p => p.Name.EndsWith(".add.output", StringComparison.Ordinal)));

        var info = new OnnxExporter().Export(model, quantized, new ExportOptions { Precision = ExportPrecision.Int8 }, folder.File("int8.onnx"));
        OnnxChecker.Check(info.Path);
        var x = cat([digits.Train.Features, digits.Validation.Features, test.Features]);
        var fakeQuant = ExportModelsFixture.Logits(quantized, x);
        var onnx = RunOnnx(info.Path, x);
        double agreement = Top1Agreement(onnx, fakeQuant);

        string optimized = folder.File("int8.optimized.onnx");
        using (OnnxRuntimeRunner.OpenSession(info.Path, threads: 1, optimizedModelPath: optimized))
        {
        }
        var ops = Load(optimized).Graph.Node.Select(n => n.OpType).ToList();
        output.WriteLine($"{model.Spec.Arch} {target}: float {floatAccuracy:P2}, fake-quant {fakeAccuracy:P2} (test); ONNX vs fake-quant top-1 agreement {agreement:P2} over {x.shape[0]} digits, "
            + $"max |logit diff| {MaxAbsDiff(onnx, fakeQuant):F4}; ORT's optimised graph: {string.Join(", ", ops.GroupBy(o => o).Select(g => $"{g.Key} x{g.Count()}"))}");
        Assert.True(fakeAccuracy >= floatAccuracy - 0.03, $"fake-quant accuracy {fakeAccuracy} against float {floatAccuracy}");
        Assert.True(agreement >= 0.99, $"top-1 agreement {agreement}");
        Assert.Equal(adds, ops.Count(o => o == "QLinearAdd"));
        Assert.DoesNotContain("Add", ops);
        Assert.Contains("QLinearGlobalAveragePool", ops);
        Assert.DoesNotContain("GlobalAveragePool", ops);
        int floatConvs = ops.Count(o => o is "Conv" or "FusedConv");
        Assert.Equal(config.FirstLayerFloat ? 1 : 0, floatConvs);
    }

    private static double Accuracy(Tensor logits, Tensor labels) =>
        logits.argmax(1).eq(labels).to_type(ScalarType.Float64).mean().item<double>();
}
