using Distill.Core.Models;
using Distill.Core.Text;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Text;

public sealed class LmCheckpointTests
{
    private static readonly TransformerLmOptions Sizes = new() { Layers = 1, DModel = 16, Heads = 2, Context = 8, VocabSize = 5 };

    [Fact]
    public void Checkpoint_round_trips_sizes_weights_and_char_vocabulary()
    {
        string dir = TextTestData.NewTempDir();
        try
        {
            manual_seed(3);
            using var model = new TransformerLm(Sizes);
            var tokenizer = new CharTokenizer(["\n", " ", "a", "b", "é"]);
            string path = Path.Combine(dir, "m.ckpt");
            LmCheckpoint.Save(path, model, tokenizer, "student", "run1");
            Assert.True(LmCheckpoint.IsLanguageModel(path));

            var (loaded, loadedTokenizer, header) = LmCheckpoint.Load(path);
            using var _ = loaded;
            Assert.Equal(Sizes, loaded.Options);
            Assert.Equal(("student", "run1"), (header.Role, header.RunId));
            Assert.Equal(tokenizer.Symbols, ((CharTokenizer)loadedTokenizer).Symbols);
            using var input = tensor(new long[] { 0, 4, 2, 3, 1 }, [1, 5]);
            using var expected = model.forward(input);
            using var actual = loaded.forward(input);
            Assert.True(expected.allclose(actual, rtol: 0, atol: 0));

            manual_seed(4);
            using var other = new TransformerLm(Sizes with { Layers = 2 });
            var error = Assert.Throws<InvalidInputException>(() => LmCheckpoint.LoadInto(path, other, "teacher"));
            Assert.Contains($"{path}: checkpoint holds a transformer-lm of 1 layers", error.Message);
            Assert.Contains("but the teacher is a transformer-lm of 2 layers", error.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void An_image_model_checkpoint_is_not_a_language_model()
    {
        string dir = TextTestData.NewTempDir();
        try
        {
            using var mlp = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [4] }, [1, 2, 2], 3);
            string path = Path.Combine(dir, "mlp.ckpt");
            ModelCheckpoint.Save(path, mlp, null, "student", null);
            Assert.False(LmCheckpoint.IsLanguageModel(path));
            var error = Assert.Throws<InvalidInputException>(() => LmCheckpoint.Load(path));
            Assert.Contains($"{path}: not a language-model checkpoint (it is a 'model' checkpoint)", error.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Spread_picks_windows_evenly_over_the_corpus()
    {
        using var windows = TokenWindows.FromSegments([Enumerable.Range(0, 41).ToArray()], context: 4, stride: 4);
        Assert.Equal(10, windows.Count);
        using var spread = windows.Spread(4);
        Assert.Equal(new long[] { 0, 8, 20, 28 }, spread.Inputs[.., 0].data<long>().ToArray());
        Assert.Equal(4 * 5, spread.TokenCount);
        using var all = windows.Spread(50);
        Assert.Equal(10, all.Count);
    }
}
