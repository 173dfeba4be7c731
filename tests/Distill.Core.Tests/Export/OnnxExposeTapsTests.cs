using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Models;
using Distill.Core.Tests.Data;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export;

/// <summary>ExportOptions.ExposeTaps: the zoo model's taps become outputs of the ONNX file, equal to what the model
/// computes, so that the file can be an ONNX teacher for hint losses.</summary>
public class OnnxExposeTapsTests
{
    private static (ZooModel Cnn, ZooModel Mlp, DataSplits Data, DataSplits Flat) Models()
    {
        var data = DatasetLoader.Load(TestData.DigitsOptions with { ImageShape = [1, 8, 8], MaxTrain = 200, MaxTest = 100 }, TestData.DataDir, seed: 3);
        var flat = DatasetLoader.Load(TestData.DigitsOptions with { MaxTrain = 200, MaxTest = 100 }, TestData.DataDir, seed: 3);
        manual_seed(21);
        var cnn = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [4, 8], Depthwise = [false, true], Pool = [true, false], Hidden = [16] }, data.InputShape, data.NumClasses);
        var mlp = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [24, 12] }, flat.InputShape, flat.NumClasses);
        cnn.eval();
        mlp.eval();
        return (cnn, mlp, data, flat);
    }

    [Fact]
    public void TapOutputsEqualTheModelsTaps()
    {
        var (cnn, mlp, data, flat) = Models();
        using var _ = data;
        using var __ = flat;
        using var ___ = cnn;
        using var ____ = mlp;
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        var exporter = new OnnxExporter();

        foreach (var (model, split, name) in new[] { (cnn, data, "cnn"), (mlp, flat, "mlp") })
        {
            string path = folder.File($"{name}.onnx");
            exporter.Export(model, null, new ExportOptions { ExposeTaps = true }, path);
            var proto = Load(path);
            var tapNames = model.TapNames.Where(t => t != ZooModel.LogitsTap).ToList();
            Assert.Equal(["logits", .. tapNames], proto.Graph.Output.Select(o => o.Name).ToArray());

            // As an ONNX teacher, with the data's normalisation declared as the file's preprocessing.
            var norm = split.Normalization!;
            var options = new OnnxTeacherOptions
            {
                Path = path,
                Taps = tapNames.ToDictionary(t => t, t => t),
                Mean = norm.Mean,
                Std = norm.Std,
            };
            using var teacher = OnnxTeacher.Load(options, path, split.InputShape, split.NumClasses, norm);
            var x = split.Test.Features;
            var (logits, taps) = teacher.ForwardWithTaps(x, tapNames);
            using var noGrad = no_grad();
            var (expectedLogits, expectedTaps) = model.ForwardWithTaps(x, tapNames);
            Assert.True(MaxAbsDiff(logits, expectedLogits) <= 1e-4f, $"{name} logits differ by {MaxAbsDiff(logits, expectedLogits)}");
            foreach (var tap in tapNames)
            {
                Assert.Equal(model.TapShape(tap), teacher.TapShape(tap));
                Assert.True(MaxAbsDiff(taps[tap], expectedTaps[tap]) <= 1e-4f, $"{name} tap {tap} differs by {MaxAbsDiff(taps[tap], expectedTaps[tap])}");
            }

            // The runner of exported classifiers still takes the file: it reads the output named logits.
            Assert.True(MaxAbsDiff(RunOnnx(path, x), expectedLogits) <= 1e-4f);
        }
        Assert.Equal(["block0", "block1", "features"], cnn.TapNames.Where(t => t != ZooModel.LogitsTap).ToArray());
    }

    [Fact]
    public void Float16FilesExposeFloat32TapsAndInt8FilesRefuse()
    {
        var (cnn, mlp, data, flat) = Models();
        using var _ = data;
        using var __ = flat;
        using var ___ = cnn;
        using var ____ = mlp;
        using var folder = new ExportFolder();
        using var scope = NewDisposeScope();
        string path = folder.File("fp16.onnx");
        new OnnxExporter().Export(cnn, null, new ExportOptions { Precision = ExportPrecision.Float16, ExposeTaps = true }, path);
        var taps = new Dictionary<string, string> { ["features"] = "features", ["block1"] = "block1" };
        using var teacher = OnnxTeacher.Load(new OnnxTeacherOptions { Path = path, Taps = taps }, path, data.InputShape, data.NumClasses, null);
        var x = data.Test.Features;
        var (_, got) = teacher.ForwardWithTaps(x, ["features"]);
        using var noGrad = no_grad();
        var (_, expected) = cnn.ForwardWithTaps(x, ["features"]);
        Assert.True(MaxAbsDiff(got["features"], expected["features"]) <= 5e-2f);

        var error = Assert.Throws<InvalidInputException>(() =>
            new OnnxExporter().Export(cnn, null, new ExportOptions { Precision = ExportPrecision.Int8, ExposeTaps = true }, folder.File("int8.onnx")));
        Assert.Contains("float32 and float16", error.Message);
    }
}
