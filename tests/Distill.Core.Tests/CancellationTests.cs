using System.Diagnostics;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Export;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Tests.Data;
using Distill.Core.Tests.Text;
using Distill.Core.Text;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Tests;

/// <summary>Every slow phase outside the training steps checks the run's cancellation (Ctrl-C, SIGTERM) between
/// its batches or chunks, so that a signal is answered within about a second whatever the run is doing.</summary>
public class CancellationTests
{
    private static CancellationToken Cancelled()
    {
        var source = new CancellationTokenSource();
        source.Cancel();
        return source.Token;
    }

    [Fact]
    public void DataLoadingStopsWhileTheFilesAreRead()
    {
        Assert.Throws<OperationCanceledException>(() => DatasetLoader.Load(TestData.FashionOptions, TestData.FashionDir, 0, Cancelled()));
        Assert.Throws<OperationCanceledException>(() => DatasetLoader.Load(TestData.DigitsOptions, TestData.DataDir, 0, Cancelled()));
        using var loaded = DatasetLoader.Load(TestData.DigitsOptions, TestData.DataDir, 0, CancellationToken.None);
        Assert.True(loaded.Train.Count > 0);
    }

    [Fact]
    public void TeacherCacheBuildStopsBetweenBatches()
    {
        using var teacher = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [8] }, [4], 3);
        using var features = rand(600, 4);
        Assert.Throws<OperationCanceledException>(() => TeacherOutputCache.Build(teacher, features, [], 256, cancel: Cancelled()));
        using var cache = TeacherOutputCache.Build(teacher, features, [], 256, CPU);
        Assert.Equal(600, cache.Count);
    }

    [Fact]
    public void EvaluationAndCalibrationStopBetweenBatches()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [8] }, [4], 3);
        using var data = new TensorDataset(rand(600, 4), zeros(600, dtype: ScalarType.Int64));
        Assert.Throws<OperationCanceledException>(() => Evaluator.Evaluate(model, data, cancel: Cancelled()));
        Assert.Throws<OperationCanceledException>(() => PostTrainingCalibrator.Calibrate(model, data, 2, 64, new QuantConfig(), cancel: Cancelled()));
        Assert.Equal(600, Evaluator.Evaluate(model, data).Samples);
    }

    [Fact]
    public void LanguageModelEvaluationAndTeacherCacheStopBetweenBatches()
    {
        using var model = new TransformerLm(new TransformerLmOptions { Layers = 1, DModel = 16, Heads = 2, Context = 8, VocabSize = 256 });
        var tokenizer = ByteTokenizer.Instance;
        using var data = TextData.Load(TextTestData.Corpus, new TextDataOptions { Context = 8, Blocks = 2, ValidationFraction = 0.1 }, tokenizer);
        using var windows = data.Validation.Subset(0, 40);
        Assert.Throws<OperationCanceledException>(() => LmEvaluator.Evaluate(model, windows, tokenizer, 16, Cancelled()));
        Assert.Throws<OperationCanceledException>(() => TopKTeacherCache.Build(model, windows, 4, 2.0, 16, cancel: Cancelled()));
        Assert.Equal(40 * 8, LmEvaluator.Evaluate(model, windows, tokenizer, 16).Tokens);
    }

    [Fact]
    public void ModelBuildStopsBetweenLayers()
    {
        Assert.Throws<OperationCanceledException>(() => ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [8, 8] }, [4], 3, Cancelled()));
    }

    [Fact]
    public void WaitingForARuntimeProcessKillsItOnCancellation()
    {
        // Arm NN and the ONNX checker run as child processes; a cancelled run must not wait for them to finish.
        using var process = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();
        Assert.Throws<OperationCanceledException>(() => ChildProcess.WaitForExit(process, cancel.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.True(process.HasExited);
    }
}
