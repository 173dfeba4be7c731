using Distill.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Text;

public class TransformerLmTests
{
    private static readonly TransformerLmOptions Small = new() { Layers = 2, DModel = 32, Heads = 4, Context = 16, VocabSize = 50 };

    [Theory]
    [InlineData(1, 16, 2, 0, 8, 256)]
    [InlineData(2, 32, 4, 48, 16, 50)]
    [InlineData(4, 128, 4, 0, 128, 256)]
    public void ParameterCountMatchesTheFormula(int layers, int d, int heads, int dff, int context, int vocab)
    {
        var options = new TransformerLmOptions { Layers = layers, DModel = d, Heads = heads, DFF = dff, Context = context, VocabSize = vocab };
        using var model = new TransformerLm(options);
        long counted = model.parameters().Sum(p => p.numel());
        Assert.Equal(options.ParameterCount(), counted);
        Assert.Equal(counted, model.ParameterCount);
    }

    [Fact]
    public void LinearLayersAreDescribedInTheGraphVocabulary()
    {
        using var model = new TransformerLm(Small with { DFF = 48 });
        string[] perBlock = ["attn.qkv", "attn.proj", "mlp_fc", "mlp_proj"];
        Assert.Equal([.. Enumerable.Range(0, 2).SelectMany(i => perBlock.Select(l => $"blocks.{i}.{l}")), "head"], model.Layers.Select(l => l.Name));
        Assert.All(model.Layers, l => Assert.Equal(Distill.Core.Models.LayerKind.Linear, l.Kind));
        // d = 32, d_ff = 48, vocabulary 50: each layer's output width is its weight's first dimension.
        Assert.Equal([96L, 32, 48, 32, 96, 32, 48, 32, 50], model.Layers.Select(l => l.Shape.Single()));
        Assert.All(model.Layers, l => Assert.Equal(l.Shape[0], l.Weight.shape[0]));
        // Each block layer owns "{name}.weight" and "{name}.bias"; the tied head's weight is the token embedding.
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.All(model.Layers.SkipLast(1), l => Assert.Same(parameters[$"{l.Name}.weight"], l.Weight));
        Assert.All(model.Layers.SkipLast(1), l => Assert.Same(parameters[$"{l.Name}.bias"], l.Bias));
        using (no_grad())
        {
            model.Layers[^1].Weight[3, 4] = tensor(7f);
        }
        Assert.Equal(7f, model.TokenEmbedding[3, 4].item<float>());
        Assert.Null(model.Layers[^1].Bias);
    }

    [Fact]
    public void OutputHeadIsTheTokenEmbedding()
    {
        torch.manual_seed(1);
        using var model = new TransformerLm(Small);
        using var scope = NewDisposeScope();
        // Exactly one parameter of the embedding's shape: the head has no weight of its own.
        Assert.Single(model.parameters(), p => p.shape.SequenceEqual(new long[] { 50, 32 }));
        var names = model.state_dict().Keys.ToList();
        Assert.DoesNotContain(names, n => n.Contains("BackingField", StringComparison.Ordinal));
        Assert.Contains("tok_emb.weight", names);
        Assert.Contains("blocks.1.attn.qkv.weight", names);
        Assert.Contains("ln_f.weight", names);

        model.eval();
        var tokens = randint(0, 50, [2, 7]);
        var output = model.Run(tokens, [TransformerLm.FinalName], false);
        var expected = output.Hidden[TransformerLm.FinalName].matmul(model.TokenEmbedding.t());
        Assert.True(output.Logits.allclose(expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void ChangingTokenTLeavesEarlierLogitsUnchanged()
    {
        torch.manual_seed(2);
        using var model = new TransformerLm(Small);
        model.eval();
        using var scope = NewDisposeScope();
        var tokens = randint(0, 50, [1, 16]);
        var changed = tokens.clone();
        const int t = 9;
        changed[0, t] = (tokens[0, t] + 1) % 50;
        var a = model.forward(tokens);
        var b = model.forward(changed);
        Assert.Equal(new long[] { 1, 16, 50 }, a.shape);
        Assert.True(a.narrow(1, 0, t).allclose(b.narrow(1, 0, t), rtol: 0, atol: 1e-6), "logits before t changed");
        for (int position = t; position < 16; position++)
        {
            Assert.False(a[0, position].allclose(b[0, position], rtol: 0, atol: 1e-6), $"logits at {position} did not change");
        }
    }

    [Fact]
    public void AttentionMapsAreCausalDistributionsAndMatchTheFusedPath()
    {
        torch.manual_seed(3);
        using var model = new TransformerLm(Small);
        model.eval();
        using var scope = NewDisposeScope();
        var tokens = randint(0, 50, [3, 12]);
        var fused = model.forward(tokens);
        var explicitPath = model.Run(tokens, ["embed", "block0", "block1"], attention: true);
        Assert.True(fused.allclose(explicitPath.Logits, rtol: 1e-4, atol: 1e-5));
        Assert.Equal(["block0", "block1"], explicitPath.Attention.Keys.Order());
        var map = explicitPath.Attention["block1"];
        Assert.Equal(new long[] { 3, 4, 12, 12 }, map.shape);
        Assert.True(map.sum(-1).allclose(ones(3, 4, 12), atol: 1e-5));
        Assert.Equal(0.0, map.triu(1).abs().max().item<float>());
        Assert.Equal(new long[] { 3, 12, 32 }, explicitPath.Hidden["block0"].shape);
    }

    [Fact]
    public void RejectsBadSizesAndTooLongInput()
    {
        Assert.Throws<InvalidInputException>(() => new TransformerLm(Small with { Heads = 5 }));
        Assert.Throws<InvalidInputException>(() => new TransformerLm(Small with { Dropout = 1 }));
        using var model = new TransformerLm(Small);
        using var tokens = zeros(1, 17, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => model.forward(tokens));
        using var ok = zeros(1, 16, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => model.Run(ok, ["block7"], false));
    }
}
