using Distill.Core.Distillation;
using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Distillation;

public class TeacherOutputCacheTests
{
    [Fact]
    public void LookupEqualsTheTeacherInEvalMode()
    {
        torch.manual_seed(3);
        using var teacher = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 8], Hidden = [16], Dropout = 0.3 }, [1, 12, 12], 10);
        using var features = (randn(50, 1, 12, 12) * 2 + 0.5).DetachFromDisposeScope();

        // Move the batch-norm running statistics away from their initial values, so that eval mode differs from train mode.
        teacher.train();
        using (no_grad())
        {
            for (int i = 0; i < 5; i++)
            {
                teacher.forward(features).Dispose();
            }
        }

        using var cache = TeacherOutputCache.Build(teacher, features, ["block0"], batchSize: 16);
        Assert.True(teacher.training, "the teacher's mode is restored");
        Assert.Equal((50 * 10 + 50 * 8 * 6 * 6) * 4L, cache.Bytes);

        long[] indices = [3, 0, 49, 17, 17, 32];
        using var scope = NewDisposeScope();
        var (logits, taps) = cache.Lookup(indices);
        Assert.False(logits.requires_grad);

        teacher.eval();
        using var noGrad = no_grad();
        var (expectedLogits, expectedTaps) = teacher.ForwardWithTaps(features.index_select(0, tensor(indices)), ["block0"]);
        Assert.Equal(new long[] { 6, 10 }, logits.shape);
        Assert.True((logits - expectedLogits).abs().max().item<float>() < 1e-6);
        Assert.True((taps["block0"] - expectedTaps["block0"]).abs().max().item<float>() < 1e-6);

        teacher.train();
        var trainModeLogits = teacher.forward(features.index_select(0, tensor(indices)));
        Assert.True((logits - trainModeLogits).abs().max().item<float>() > 1e-3, "train-mode outputs would differ");
    }

    [Fact]
    public void CachedTensorsSurviveTheCallersDisposeScope()
    {
        using var teacher = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [8] }, [64], 10);
        TeacherOutputCache cache;
        using (NewDisposeScope())
        {
            cache = TeacherOutputCache.Build(teacher, randn(20, 64), [], batchSize: 7);
        }
        using (cache)
        {
            using var scope = NewDisposeScope();
            var (logits, taps) = cache.Lookup([19, 0]);
            Assert.Equal(new long[] { 2, 10 }, logits.shape);
            Assert.Empty(taps);
            Assert.Throws<ArgumentOutOfRangeException>(() => cache.Lookup([20]));
        }
    }
}
