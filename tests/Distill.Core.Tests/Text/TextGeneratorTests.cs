using Distill.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Text;

public class TextGeneratorTests
{
    private static TransformerLm NewModel(int seed)
    {
        torch.manual_seed(seed);
        var model = new TransformerLm(new TransformerLmOptions { Layers = 1, DModel = 32, Heads = 2, Context = 12, VocabSize = 256 });
        using var noGrad = no_grad();
        // Larger weights than the 0.02 init give peaked, distinct next-token distributions.
        foreach (var p in model.parameters())
        {
            p.mul_(20);
        }
        return model;
    }

    [Fact]
    public void GreedyDecodingIsArgmaxWithASlidingContext()
    {
        using var model = NewModel(11);
        var generator = new TextGenerator(model, ByteTokenizer.Instance);
        var prompt = ByteTokenizer.Instance.Encode("Mr. Darcy", "test");
        var (tokens, _) = generator.GenerateTokens(prompt, new GenerationOptions { MaxTokens = 20, Temperature = 0 });

        var context = prompt.ToList();
        model.eval();
        using var noGrad = no_grad();
        foreach (int token in tokens)
        {
            using var scope = NewDisposeScope();
            var window = context.Skip(Math.Max(0, context.Count - 12)).Select(t => (long)t).ToArray();
            var logits = model.forward(tensor(window, [1, window.Length]));
            int expected = (int)logits[0, window.Length - 1].argmax().item<long>();
            Assert.Equal(expected, token);
            context.Add(token);
        }
    }

    [Fact]
    public void SamplingIsReproducibleBySeedAndTopOneIsGreedy()
    {
        using var model = NewModel(12);
        var generator = new TextGenerator(model, ByteTokenizer.Instance);
        var sampled = new GenerationOptions { MaxTokens = 40, Temperature = 1.5, Seed = 3 };
        var a = generator.Generate("Elizabeth", sampled);
        var b = generator.Generate("Elizabeth", sampled);
        var c = generator.Generate("Elizabeth", sampled with { Seed = 4 });
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.NotEqual(a.Tokens, c.Tokens);
        var greedy = generator.Generate("Elizabeth", new GenerationOptions { MaxTokens = 40, Temperature = 0 });
        var topOne = generator.Generate("Elizabeth", sampled with { TopK = 1 });
        Assert.Equal(greedy.Tokens, topOne.Tokens);
        Assert.Equal(40, a.Tokens.Length);
        Assert.Equal(9, a.PromptTokens);
        Assert.True(a.TokensPerSecond > 0);
    }

    [Fact]
    public void TopKSamplesOnlyAmongTheKMostLikely()
    {
        float[] logits = [0.1f, 3.0f, -1.0f, 2.5f, 2.9f, 0.0f];
        var random = new Random(1);
        var options = new GenerationOptions { Temperature = 5.0, TopK = 3 };
        var seen = Enumerable.Range(0, 500).Select(_ => TextGenerator.Pick(logits, options, random)).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 3, 4 }, seen);
        Assert.Equal(1, TextGenerator.Pick(logits, options with { Temperature = 0 }, random));
    }

    [Fact]
    public void StreamedTextEqualsTheResultText()
    {
        using var model = NewModel(13);
        var generator = new TextGenerator(model, ByteTokenizer.Instance);
        var pieces = new List<string>();
        var result = generator.Generate("Jane", new GenerationOptions { MaxTokens = 30, Temperature = 1.0, Seed = 9 }, pieces.Add);
        Assert.Equal(result.Text, string.Concat(pieces));
        Assert.Equal(ByteTokenizer.Instance.Decode(result.Tokens), result.Text);
    }

    [Fact]
    public void BadPromptsAreBadInput()
    {
        using var model = NewModel(14);
        var generator = new TextGenerator(model, ByteTokenizer.Instance);
        var error = Assert.Throws<InvalidInputException>(() => generator.Generate(new string('a', 13), new GenerationOptions()));
        Assert.Contains("longer than the model's context of 12", error.Message);
        Assert.Throws<InvalidInputException>(() => generator.Generate("", new GenerationOptions()));
        Assert.Throws<InvalidInputException>(() => generator.Generate("ok", new GenerationOptions { Temperature = -1 }));

        var chars = CharTokenizer.FromText("abc");
        using var charModel = new TransformerLm(new TransformerLmOptions { Layers = 1, DModel = 8, Heads = 2, Context = 4, VocabSize = 3 });
        var charGenerator = new TextGenerator(charModel, chars);
        Assert.Contains("not in the model's character vocabulary",
            Assert.Throws<InvalidInputException>(() => charGenerator.Generate("abz", new GenerationOptions())).Message);
    }
}
