using Distill.Core.Export;
using Distill.Core.Export.Onnx;

namespace Distill.Core.Tests.Export;

public class OnnxLatencyTests(ExportModelsFixture models) : IClassFixture<ExportModelsFixture>
{
    [Fact]
    public void MeasuresOrderedStatisticsOfRealRuns()
    {
        using var folder = new ExportFolder();
        var fp32 = new OnnxExporter().Export(models.DigitsCnn, null, new ExportOptions(), folder.File("cnn.onnx"));
        var halfIo = new OnnxExporter().Export(models.DigitsCnn, null, new ExportOptions { Precision = ExportPrecision.Float16, Float32Io = false }, folder.File("fp16.onnx"));

        foreach (string path in new[] { fp32.Path, halfIo.Path })
        {
            var result = OnnxLatency.Measure(path, batch: 8, warmup: 2, runs: 9, threads: 1);
            Assert.Equal((8, 9, 1), (result.Batch, result.Runs, result.Threads));
            Assert.True(result.MinMs > 0);
            Assert.True(result.MinMs <= result.MedianMs && result.MedianMs <= result.P90Ms && result.P90Ms <= result.MaxMs, result.ToString());
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxLatency.Measure(fp32.Path, batch: 0, warmup: 0, runs: 1, threads: 1));
    }
}
