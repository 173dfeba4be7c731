using System.Diagnostics;
using Distill.Core.Models;
using Distill.Core.Text;

namespace Distill.Core.Tests.Models;

/// <summary>The parameter count is computed from the sizes before a model is built, so that a model above the
/// ceiling is refused at once instead of after seconds of allocation per layer.</summary>
public class ModelLimitsTests
{
    public static TheoryData<ModelSpec, long[], int> Specs => new()
    {
        { new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16], Hidden = [32] }, [1, 28, 28], 10 },
        { new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16, 24], Depthwise = [false, true, true], Pool = [true, false, true], Hidden = [] }, [3, 17, 13], 7 },
        { new ModelSpec { Arch = ModelArch.Cnn, Channels = [4, 6], Depthwise = [false, true], BatchNorm = false, KernelSize = 5, Hidden = [12, 5] }, [2, 8, 8], 3 },
        { new ModelSpec { Arch = ModelArch.Mlp, Hidden = [32, 16] }, [1, 8, 8], 10 },
        { new ModelSpec { Arch = ModelArch.Mlp, Hidden = [] }, [64], 2 },
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void CountFromTheSizesIsTheBuiltModelsCount(ModelSpec spec, long[] input, int classes)
    {
        using var model = ModelZoo.Build(spec, input, classes);
        Assert.Equal(model.parameters().Sum(p => p.numel()), ModelZoo.ParameterCount(spec, input, classes));
    }

    [Fact]
    public void ModelAboveTheCeilingIsRefusedBeforeAnythingIsAllocated()
    {
        // (784+1)·20000 + (20000+1)·20000 + (20000+1)·10 = 415,920,010 parameters. Allocating and initialising them takes seconds.
        var spec = new ModelSpec { Arch = ModelArch.Mlp, Hidden = [20000, 20000] };
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidInputException>(() => ModelZoo.Build(spec, [1, 28, 28], 10));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(0.5), $"took {clock.Elapsed}");
        Assert.Equal("an mlp with hidden [20000, 20000] on input [1, 28, 28] with 10 classes has 415,920,010 parameters; "
            + "Distill builds models of at most 100,000,000 (docs/recipes.md, Limits)", e.Message);
    }

    [Fact]
    public void HugeSizesSaturateInsteadOfOverflowing()
    {
        var spec = new ModelSpec { Arch = ModelArch.Cnn, Channels = [int.MaxValue, int.MaxValue, int.MaxValue], KernelSize = 15 };
        Assert.Equal(long.MaxValue, ModelZoo.ParameterCount(spec, [int.MaxValue, 28, 28], 10));
        Assert.Throws<InvalidInputException>(() => ModelZoo.Build(spec, [3, 28, 28], 10));
    }

    [Fact]
    public void LanguageModelAboveTheCeilingIsRefusedBeforeItIsBuilt()
    {
        var options = new TransformerLmOptions { Layers = 64, DModel = 1024, Heads = 8, Context = 128, VocabSize = 256 };
        var e = Assert.Throws<InvalidInputException>(() => new TransformerLm(options));
        Assert.StartsWith("a transformer-lm with layers 64, d_model 1024, d_ff 4096, context 128 and 256 tokens has 806,", e.Message);
    }

    [Fact]
    public void BuildingStopsBetweenLayersWhenCancelled()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var spec = new ModelSpec { Arch = ModelArch.Cnn, Channels = [8, 16], Hidden = [32] };
        Assert.Throws<OperationCanceledException>(() => ModelZoo.Build(spec, [1, 28, 28], 10, cancelled.Token));
        Assert.Throws<OperationCanceledException>(() => ModelZoo.Build(spec with { Arch = ModelArch.Mlp }, [1, 28, 28], 10, cancelled.Token));
        Assert.Throws<OperationCanceledException>(() => new TransformerLm(new TransformerLmOptions { Layers = 2 }, cancelled.Token));
    }
}
