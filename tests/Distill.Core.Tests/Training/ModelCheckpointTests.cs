using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Training;

public sealed class ModelCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distill-model-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ModelSpec Cnn => new() { Arch = ModelArch.Cnn, Channels = [4, 8], Hidden = [16] };

    [Fact]
    public void Saved_model_loads_back_with_identical_outputs_and_normalisation()
    {
        manual_seed(3);
        using var model = ModelZoo.Build(Cnn, [1, 28, 28], 10);
        var path = Path.Combine(_dir, "m.ckpt");
        ModelCheckpoint.Save(path, model, new Normalization([0.28], [0.35]), "student", runId: "abc");

        var (loaded, descriptor) = ModelCheckpoint.Load(path);
        using var _ = loaded;
        Assert.Equal([0.28], descriptor.Normalization!.Mean);
        Assert.Equal(model.ParameterCount, loaded.ParameterCount);

        using var x = randn(5, 1, 28, 28);
        model.eval();
        loaded.eval();
        using var expected = model.call(x);
        using var actual = loaded.call(x);
        Assert.Equal(0.0, (expected - actual).abs().max().item<float>(), 6);
    }

    [Fact]
    public void Checkpoint_of_another_architecture_is_refused_naming_both()
    {
        manual_seed(3);
        using var cnn = ModelZoo.Build(Cnn, [1, 28, 28], 10);
        var path = Path.Combine(_dir, "cnn.ckpt");
        ModelCheckpoint.Save(path, cnn, null, "teacher", runId: null);

        using var mlp = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [32] }, [1, 28, 28], 10);
        var error = Assert.Throws<InvalidInputException>(() => ModelCheckpoint.LoadInto(path, mlp, "recipe's teacher"));
        Assert.Contains(path, error.Message);
        Assert.Contains("holds a cnn with channels [4, 8] hidden [16] on input [1, 28, 28] with 10 classes", error.Message);
        Assert.Contains("is an mlp with hidden [32] on input [1, 28, 28]", error.Message);
    }
}
