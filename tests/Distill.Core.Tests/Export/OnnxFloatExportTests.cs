using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Onnx.Proto;
using Distill.Core.Quantization;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export;

public class OnnxFloatExportTests(ExportModelsFixture models, ITestOutputHelper output) : IClassFixture<ExportModelsFixture>
{
    private readonly OnnxExporter _exporter = new();

    [Fact]
    public void Float32CnnMatchesTorchSharpOnDigits()
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var info = _exporter.Export(models.DigitsCnn, null, new ExportOptions(), folder.File("cnn.onnx"));

        var x = models.Digits.Test.Features;
        float diff = MaxAbsDiff(RunOnnx(info.Path, x), ExportModelsFixture.Logits(models.DigitsCnn, x));
        output.WriteLine($"fixture set up in {models.SetupSeconds:F1} s");
        output.WriteLine($"digits cnn ({x.shape[0]} test images): max |logit diff| = {diff:E2}");
        Assert.True(diff <= 1e-4f, $"max abs logit difference {diff}");

        Assert.Equal(new FileInfo(info.Path).Length, info.SizeBytes);
        Assert.Equal(("input", "float32", "NCHW", "logits", "float32"), (info.InputName, info.InputDType, info.InputLayout, info.OutputName, info.OutputDType));
        Assert.Equal([-1L, 1, 8, 8], info.InputShape);
        Assert.Equal([-1L, 10], info.OutputShape);
        Assert.Null(info.InputQuant);

        // Batch norms are folded and dropouts gone: only Conv, Relu, MaxPool, Flatten and Gemm remain.
        var model = Load(info.Path);
        Assert.Equal(["Conv", "Flatten", "Gemm", "MaxPool", "Relu"], model.Graph.Node.Select(n => n.OpType).Distinct().Order().ToArray());
        Assert.Equal(3, model.Graph.Node.Count(n => n.OpType == "Conv"));
        Assert.Equal(8, model.Graph.Node.Single(n => n.Name == "block1.depthwise").Attribute.Single(a => a.Name == "group").I);
        Assert.Equal("batch", model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal((8L, 17L), (model.IrVersion, model.OpsetImport.Single().Version));
    }

    [Fact]
    public void Float32MlpAndFashionCnnMatchTorchSharp()
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var mlp = _exporter.Export(models.DigitsMlp, null, new ExportOptions(), folder.File("mlp.onnx"));
        Assert.Equal("NC", mlp.InputLayout);
        Assert.Equal([-1L, 64], mlp.InputShape);
        var digits = models.DigitsFlat.Test.Features;
        float mlpDiff = MaxAbsDiff(RunOnnx(mlp.Path, digits), ExportModelsFixture.Logits(models.DigitsMlp, digits));

        var cnn = _exporter.Export(models.FashionCnn, null, new ExportOptions(), folder.File("fashion.onnx"));
        var fashion = models.Fashion.Test.Features;
        float cnnDiff = MaxAbsDiff(RunOnnx(cnn.Path, fashion), ExportModelsFixture.Logits(models.FashionCnn, fashion));
        output.WriteLine($"digits mlp: {mlpDiff:E2}, fashion cnn ({fashion.shape[0]} images): {cnnDiff:E2}");
        Assert.True(mlpDiff <= 1e-4f, $"mlp max abs logit difference {mlpDiff}");
        Assert.True(cnnDiff <= 1e-4f, $"fashion cnn max abs logit difference {cnnDiff}");
    }

    [Fact]
    public void Float16AgreesWithTheFloatModel()
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var fp32 = _exporter.Export(models.FashionCnn, null, new ExportOptions(), folder.File("fp32.onnx"));
        var fp16 = _exporter.Export(models.FashionCnn, null, new ExportOptions { Precision = ExportPrecision.Float16 }, folder.File("fp16.onnx"));
        var halfIo = _exporter.Export(models.FashionCnn, null, new ExportOptions { Precision = ExportPrecision.Float16, Float32Io = false }, folder.File("fp16-io.onnx"));

        var x = models.Fashion.Test.Features;
        var reference = ExportModelsFixture.Logits(models.FashionCnn, x);
        var logits = RunOnnx(fp16.Path, x);
        double agreement = Top1Agreement(logits, reference);
        float diff = MaxAbsDiff(logits, reference);
        output.WriteLine($"fp16: top-1 agreement {agreement:P2}, max |logit diff| {diff:E2}, size {fp16.SizeBytes} vs {fp32.SizeBytes} bytes");
        Assert.True(agreement >= 0.99, $"top-1 agreement {agreement}");
        // float16 keeps 11 significant bits: logits of magnitude ~10 move by a few 1e-3.
        Assert.True(diff <= 0.05f, $"max abs logit difference {diff}");
        Assert.True(fp16.SizeBytes < 0.6 * fp32.SizeBytes, $"fp16 {fp16.SizeBytes} bytes, fp32 {fp32.SizeBytes}");

        var model = Load(fp16.Path);
        Assert.All(model.Graph.Initializer, t => Assert.Equal(OnnxGraph.Float16, t.DataType));
        Assert.Equal(["Cast", "Cast"], new[] { model.Graph.Node.First().OpType, model.Graph.Node.Last().OpType });
        Assert.Equal(OnnxGraph.Float, model.Graph.Input[0].Type.TensorType.ElemType);

        // Float16 input and output: the runner converts on the way in and out.
        Assert.Equal(("float16", "float16"), (halfIo.InputDType, halfIo.OutputDType));
        Assert.Equal(OnnxGraph.Float16, Load(halfIo.Path).Graph.Input[0].Type.TensorType.ElemType);
        Assert.True(Top1Agreement(RunOnnx(halfIo.Path, x), reference) >= 0.99);
    }

    [Fact]
    public void MetadataAndProducerAreWritten()
    {
        using var folder = new ExportFolder();
        var options = new ExportOptions { Metadata = new Dictionary<string, string> { ["distill.model_card"] = "{\"name\":\"digits\"}", ["author"] = "tests" } };
        var info = _exporter.Export(models.DigitsMlp, null, options, folder.File("meta.onnx"));

        using var session = new InferenceSession(info.Path);
        Assert.Equal("distill", session.ModelMetadata.ProducerName);
        Assert.Equal("{\"name\":\"digits\"}", session.ModelMetadata.CustomMetadataMap["distill.model_card"]);
        Assert.Equal("tests", session.ModelMetadata.CustomMetadataMap["author"]);
        Assert.Equal(VersionInfo.Distill, Load(info.Path).ProducerVersion);
    }

    [Fact]
    public void WritesThroughATemporaryFileAndLeavesNothingHalfWritten()
    {
        using var folder = new ExportFolder();
        string path = folder.File("model.onnx");
        File.WriteAllText(path, "previous content");
        _exporter.Export(models.DigitsMlp, null, new ExportOptions(), path);
        Assert.Equal(["model.onnx"], Directory.GetFiles(folder.Path).Select(f => Path.GetFileName(f)!).ToArray());
        Assert.Equal("distill", Load(path).ProducerName);

        // A failing export (batch norm not folded: no integer form) leaves the existing file as it was.
        byte[] before = File.ReadAllBytes(path);
        using var quantized = ExportModelsFixture.Calibrate(models.DigitsCnn, models.Digits, new QuantConfig { FoldBatchNorm = false });
        var error = Assert.Throws<InvalidInputException>(() =>
            _exporter.Export(models.DigitsCnn, quantized, new ExportOptions { Precision = ExportPrecision.Int8 }, path));
        Assert.Contains("'block0.conv'", error.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void OtherOpsetsOnRequestAndBadOnesRejected()
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var x = models.Digits.Test.Features;
        var reference = ExportModelsFixture.Logits(models.DigitsCnn, x);
        foreach (var (ir, opset) in new[] { (7, 13), (9, 19), (10, 21) })
        {
            var info = _exporter.Export(models.DigitsCnn, null, new ExportOptions { OnnxIrVersion = ir, OnnxOpset = opset }, folder.File($"opset{opset}.onnx"));
            Assert.Equal((ir, (long)opset), (Load(info.Path).IrVersion, Load(info.Path).OpsetImport.Single().Version));
            Assert.True(MaxAbsDiff(RunOnnx(info.Path, x), reference) <= 1e-4f);
        }
        Assert.Contains("opset 12", Assert.Throws<InvalidInputException>(() =>
            _exporter.Export(models.DigitsCnn, null, new ExportOptions { OnnxOpset = 12 }, folder.File("bad.onnx"))).Message);
        Assert.Contains("IR version 8", Assert.Throws<InvalidInputException>(() =>
            _exporter.Export(models.DigitsCnn, null, new ExportOptions { OnnxOpset = 19 }, folder.File("bad.onnx"))).Message);
        Assert.Throws<InvalidInputException>(() =>
            _exporter.Export(models.DigitsCnn, null, new ExportOptions { Precision = ExportPrecision.Int8 }, folder.File("bad.onnx")));
        Assert.Empty(Directory.GetFiles(folder.Path, "bad*"));
    }

    [Fact]
    public void RunnerRunsInBatchesAndChecksTheShape()
    {
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var info = _exporter.Export(models.DigitsCnn, null, new ExportOptions(), folder.File("cnn.onnx"));
        var x = models.Digits.Test.Features;
        var whole = RunOnnx(info.Path, x, new OnnxRunnerOptions { BatchSize = 1000 });
        var batched = RunOnnx(info.Path, x, new OnnxRunnerOptions { BatchSize = 7, Threads = 2 });
        Assert.Equal([x.shape[0], 10L], batched.shape);
        Assert.True(MaxAbsDiff(whole, batched) <= 1e-5f);

        using var runner = new OnnxRuntimeRunner(info.Path);
        Assert.Equal([1L, 8, 8], runner.SampleShape);
        Assert.Contains("[1,8,8]", Assert.Throws<InvalidInputException>(() => runner.Run(zeros(4, 64))).Message);
        Assert.Throws<InvalidInputException>(() => new OnnxRuntimeRunner(folder.File("missing.onnx")));
    }
}
