using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Quantization;
using Google.Protobuf;
using static Distill.Core.Tests.Export.ExportAssert;

namespace Distill.Core.Tests.Export;

/// <summary>The reference checker (Debian's python3-onnx, full_check with shape inference) accepts every
/// file the exporter writes. These tests fail, not skip, when python3-onnx is missing.</summary>
public class OnnxCheckerTests(ExportModelsFixture models) : IClassFixture<ExportModelsFixture>
{
    private readonly OnnxExporter _exporter = new();

    [Fact]
    public void CheckerAcceptsFloat32Float16AndInt8Files()
    {
        using var folder = new ExportFolder();
        using var quantized = ExportModelsFixture.Calibrate(models.DigitsCnn, models.Digits, new QuantConfig());
        using var symmetric = ExportModelsFixture.Calibrate(models.DigitsCnn, models.Digits,
            new QuantConfig { Activations = QuantScheme.ActivationUInt8 with { Bits = 7 }, Overrides = [new LayerOverride { Pattern = "head.fc0", Float = true }] });
        var files = new[]
        {
            _exporter.Export(models.DigitsCnn, null, new ExportOptions(), folder.File("fp32.onnx")),
            _exporter.Export(models.DigitsMlp, null, new ExportOptions(), folder.File("mlp.onnx")),
            _exporter.Export(models.DigitsCnn, null, new ExportOptions { Precision = ExportPrecision.Float16 }, folder.File("fp16.onnx")),
            _exporter.Export(models.DigitsCnn, null, new ExportOptions { Precision = ExportPrecision.Float16, Float32Io = false }, folder.File("fp16-io.onnx")),
            _exporter.Export(models.DigitsCnn, quantized, new ExportOptions { Precision = ExportPrecision.Int8 }, folder.File("int8.onnx")),
            _exporter.Export(models.DigitsCnn, symmetric, new ExportOptions { Precision = ExportPrecision.Int8 }, folder.File("int8-mixed.onnx")),
        };
        foreach (var file in files)
        {
            OnnxChecker.Check(file.Path);
        }
    }

    [Fact]
    public void CheckerReportsWhatIsWrong()
    {
        using var folder = new ExportFolder();
        var info = _exporter.Export(models.DigitsMlp, null, new ExportOptions(), folder.File("mlp.onnx"));
        var model = Load(info.Path);
        model.Graph.Node[1].Input[1] = "no_such_tensor";
        string broken = folder.File("broken.onnx");
        File.WriteAllBytes(broken, model.ToByteArray());

        var error = Assert.Throws<InvalidInputException>(() => OnnxChecker.Check(broken));
        Assert.Contains("broken.onnx", error.Message);
        Assert.Contains("no_such_tensor", error.Message);
    }
}
