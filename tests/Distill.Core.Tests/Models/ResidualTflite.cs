using Distill.Core.Data;
using Distill.Core.Export;
using Distill.Core.Export.Tflite;
using Distill.Core.Models;
using Distill.Core.Tests.Export;
using Google.FlatBuffers;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

/// <summary>The TFLite path of a residual model: fp32 and int8 files run in Arm NN's reference backend (CpuRef), and
/// the operators the files hold. These need Debian's python3-pyarmnn.</summary>
internal static class ResidualTflite
{
    /// <summary>Exports <paramref name="model"/> to fp32 TFLite and checks Arm NN's logits within 1e-3 of TorchSharp's on
    /// the test digits, every residual add an ADD and the global average pool a MEAN.</summary>
    public static void CheckFloat(ZooModel model, DataSplits digits, int adds, ITestOutputHelper output)
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var info = new TfliteExporter().Export(model, null, new ExportOptions(), folder.File("fp32.tflite"));
        var x = digits.Test.Features;
        var reference = ExportModelsFixture.Logits(model, x);
        using var runner = new ArmNnRunner(info.Path);
        float diff = MaxAbsDiff(runner.Run(x), reference);
        var ops = Operators(info.Path);
        output.WriteLine($"{model.Spec.Arch} fp32 TFLite in Arm NN ({x.shape[0]} test digits): max |logit diff| vs TorchSharp {diff:E2}; operators: {Summary(ops)}");
        Assert.True(diff <= 1e-3f, $"max abs logit difference {diff}");
        Assert.Equal(adds, ops.Count(o => o == "ADD"));
        Assert.Equal(1, ops.Count(o => o == "MEAN"));
    }

    /// <summary>Quantises <paramref name="model"/> as configs/targets/arm-cortex-a.yaml does (int8 per-channel conv
    /// weights, per-tensor fully connected ones, int8 asymmetric activations, an integer stem), exports it to int8
    /// TFLite and checks: Arm NN agreeing with the fake-quant model on ≥ 99 % of all digits, the adds and the pool
    /// in the file as int8 ADD and MEAN.</summary>
    public static void CheckInt8(ZooModel model, DataSplits digits, int adds, ITestOutputHelper output)
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        using var quantized = ExportModelsFixture.Calibrate(model, digits, TfliteExporter.Int8QuantConfig);
        Assert.False(quantized.Config.FirstLayerFloat);
        var info = new TfliteExporter().Export(model, quantized, new ExportOptions { Precision = ExportPrecision.Int8 }, folder.File("int8.tflite"));

        var x = cat([digits.Train.Features, digits.Validation.Features, digits.Test.Features]);
        var fakeQuant = ExportModelsFixture.Logits(quantized, x);
        using var runner = new ArmNnRunner(info.Path);
        var armNn = runner.Run(x);
        double agreement = Top1Agreement(armNn, fakeQuant);
        var ops = Operators(info.Path);
        output.WriteLine($"{model.Spec.Arch} int8 TFLite in Arm NN: top-1 agreement with the fake-quant model {agreement:P2} over {x.shape[0]} digits, "
            + $"max |logit diff| {MaxAbsDiff(armNn, fakeQuant):F4}; operators: {Summary(ops)}");
        Assert.True(agreement >= 0.99, $"top-1 agreement {agreement}");
        Assert.Equal(adds, ops.Count(o => o == "ADD"));
        Assert.Equal(1, ops.Count(o => o == "MEAN"));
        // A fused ReLU6's int8 range lies within [0, 6]: its observer saw ReLU6 outputs, so the TFLite clamp at 6 and
        // the int8 saturation agree with the fake-quant model.
        var parameters = quantized.QuantParameters().ToDictionary(p => p.Name, p => p.Params);
        foreach (var layer in model.Graph.Layers.Where(l => l.Relu6))
        {
            var p = parameters[$"{layer.Name}.output"];
            Assert.InRange((p.Scheme.QMin - p.ZeroPoint[0]) * (double)p.Scale[0], -1e-6, 1e-6);
            Assert.InRange((p.Scheme.QMax - p.ZeroPoint[0]) * (double)p.Scale[0], 0, 6 + 1e-4);
        }
        // Integer inside: QUANTIZE at the float input, DEQUANTIZE at the float output, nothing else converts; no PAD
        // (Arm NN pads int8 with code 0): a strided conv runs at stride 1 and a 1x1 max-pool keeps its outputs.
        Assert.DoesNotContain("PAD", ops);
        Assert.Equal(1, ops.Count(o => o == "QUANTIZE"));
        Assert.Equal(1, ops.Count(o => o == "DEQUANTIZE"));
    }

    /// <summary>The builtin operator of every operator of the file's first subgraph, in order, by schema name.</summary>
    public static List<string> Operators(string path)
    {
        var bb = new ByteBuffer(File.ReadAllBytes(path));
        var model = new Table(bb.GetInt(0), bb);
        // Model: operator_codes is field 1, subgraphs field 2; SubGraph: operators field 3; Operator: opcode_index
        // field 0; OperatorCode: builtin_code field 3.
        int codesField = model.__offset(Slot(1));
        var codes = new List<int>();
        for (int i = 0; i < model.__vector_len(codesField); i++)
        {
            var code = new Table(model.__indirect(model.__vector(codesField) + 4 * i), bb);
            int builtin = code.__offset(Slot(3));
            codes.Add(builtin == 0 ? 0 : bb.GetInt(code.bb_pos + builtin));
        }
        int subgraphsField = model.__offset(Slot(2));
        var subgraph = new Table(model.__indirect(model.__vector(subgraphsField)), bb);
        int operatorsField = subgraph.__offset(Slot(3));
        var ops = new List<string>();
        for (int i = 0; i < subgraph.__vector_len(operatorsField); i++)
        {
            var op = new Table(subgraph.__indirect(subgraph.__vector(operatorsField) + 4 * i), bb);
            int index = op.__offset(Slot(0));
            ops.Add(Name(codes[index == 0 ? 0 : (int)bb.GetUint(op.bb_pos + index)]));
        }
        return ops;
    }

    private static string Name(int builtin) => builtin switch
    {
        0 => "ADD",
        3 => "CONV_2D",
        4 => "DEPTHWISE_CONV_2D",
        6 => "DEQUANTIZE",
        9 => "FULLY_CONNECTED",
        17 => "MAX_POOL_2D",
        22 => "RESHAPE",
        34 => "PAD",
        40 => "MEAN",
        114 => "QUANTIZE",
        _ => $"builtin {builtin}",
    };

    private static string Summary(List<string> ops) => string.Join(", ", ops.GroupBy(o => o).Select(g => $"{g.Key} x{g.Count()}"));

    private static int Slot(int field) => 4 + 2 * field;
}
