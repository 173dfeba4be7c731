using Distill.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Text;

public class SpeculativeDecodingTests
{
    /// <summary>A random transformer with peaked, context-dependent next-token distributions; <paramref name="noise"/>
    /// &gt; 0 perturbs every weight of the seed's model, giving a draft that mostly but not always agrees with it.</summary>
    private static TransformerLm NewModel(int seed, int context, double noise = 0)
    {
        torch.manual_seed(seed);
        var model = new TransformerLm(new TransformerLmOptions { Layers = 1, DModel = 32, Heads = 2, Context = context, VocabSize = 256 });
        using var noGrad = no_grad();
        torch.manual_seed(seed + 1000);
        foreach (var p in model.parameters())
        {
            p.mul_(20);
            if (noise > 0)
            {
                p.add_(randn_like(p) * noise);
            }
        }
        return model;
    }

    [Theory]
    [InlineData(64)] // prompt and text fit in the context: one pass of the model checks each draft
    [InlineData(12)] // past the context: each position is checked in its own sliding window
    public void Greedy_text_is_the_models_own_whatever_the_draft(int context)
    {
        using var target = NewModel(11, context);
        using var close = NewModel(11, context, noise: 0.04);
        using var unrelated = NewModel(5, context);
        var prompt = ByteTokenizer.Instance.Encode("Mr. Darcy", "test");
        var greedy = new GenerationOptions { MaxTokens = 40, Temperature = 0 };
        var plain = new TextGenerator(target, ByteTokenizer.Instance).Generate("Mr. Darcy", greedy);
        Assert.Equal(9, prompt.Length);

        var results = new List<GenerationResult>();
        foreach (var draft in new[] { close, unrelated })
        {
            foreach (int k in new[] { 1, 3, 8 })
            {
                var generator = new TextGenerator(target, ByteTokenizer.Instance) { Draft = new SpeculativeDraft(new TorchNextTokenModel(draft), k) };
                var result = generator.Generate("Mr. Darcy", greedy);
                Assert.Equal(plain.Tokens, result.Tokens);
                var stats = result.Speculation!;
                Assert.True(stats.Accepted <= stats.Proposed);
                Assert.True(stats.DraftCalls == stats.Proposed, $"{stats}");
                results.Add(result);
            }
        }
        double closeRate = results.Take(3).Average(r => r.Speculation!.AcceptanceRate);
        double unrelatedRate = results.Skip(3).Average(r => r.Speculation!.AcceptanceRate);
        Assert.True(closeRate > unrelatedRate + 0.2, $"close draft {closeRate:P0}, unrelated {unrelatedRate:P0}");
        if (context == 64)
        {
            // Within the context every step is one pass of the model, and a good draft saves passes: 40 plain steps.
            var closeK3 = results[1].Speculation!;
            Assert.True(closeK3.TargetCalls < 40, $"{closeK3}");
            Assert.Equal(40, closeK3.TargetCalls + closeK3.Accepted);
        }
    }

    /// <summary>A model whose next-token logits do not depend on the text, so every token should be an independent
    /// draw from softmax(logits / T) over the top K.</summary>
    private sealed class FixedLogits(float[] logits) : INextTokenModel
    {
        public int Context => 1 << 20;

        public int VocabSize => logits.Length;

        public float[] NextTokenLogits(IReadOnlyList<int> window) => (float[])logits.Clone();

        public float[][] PositionLogits(IReadOnlyList<int> window, int count) => [.. Enumerable.Range(0, count).Select(_ => (float[])logits.Clone())];
    }

    [Theory]
    [InlineData(1.0, 0)]
    [InlineData(0.7, 3)]
    public void Sampled_tokens_follow_the_models_distribution_not_the_drafts(double temperature, int topK)
    {
        var target = new FixedLogits([2.0f, 1.5f, 0.8f, -0.5f, 0.1f]);
        var draft = new FixedLogits([-1.0f, 0.0f, 1.0f, 2.0f, 0.5f]);
        var options = new GenerationOptions { MaxTokens = 30000, Temperature = temperature, TopK = topK, Seed = 9 };
        var expected = SpeculativeDecoding.Distribution([2.0f, 1.5f, 0.8f, -0.5f, 0.1f], options);
        var generator = new TextGenerator(target, ByteTokenizer.Instance) { Draft = new SpeculativeDraft(draft, 4) };

        var (tokens, _) = generator.GenerateTokens([0], options);

        // 30,000 draws: the standard error of a frequency is at most 0.0029, so 0.012 is four of them.
        for (int token = 0; token < expected.Length; token++)
        {
            double frequency = tokens.Count(t => t == token) / (double)tokens.Length;
            Assert.True(Math.Abs(frequency - expected[token]) < 0.012, $"token {token}: {frequency:F4} drawn, {expected[token]:F4} expected");
        }
        if (topK > 0)
        {
            Assert.DoesNotContain(3, tokens);
        }
    }

    [Fact]
    public void Draft_with_another_vocabulary_or_no_tokens_is_refused()
    {
        using var target = NewModel(11, 16);
        var generator = new TextGenerator(target, ByteTokenizer.Instance) { Draft = new SpeculativeDraft(new FixedLogits([0f, 1f]), 2) };
        var error = Assert.Throws<InvalidInputException>(() => generator.Generate("Mr", new GenerationOptions { MaxTokens = 4 }));
        Assert.Contains("its vocabulary has 2 tokens and the model's 256", error.Message);

        using var draft = NewModel(12, 16);
        var none = new TextGenerator(target, ByteTokenizer.Instance) { Draft = new SpeculativeDraft(new TorchNextTokenModel(draft), 0) };
        Assert.Contains("draft tokens must be at least 1", Assert.Throws<InvalidInputException>(() => none.Generate("Mr", new GenerationOptions { MaxTokens = 4 })).Message);
    }
}
