using System.Text;
using Distill.Core.Text;
using TorchSharp;

namespace Distill.Core.Tests.Text;

public class LmEvaluatorTests
{
    /// <summary>A zero token embedding makes the tied head output all-zero logits: a uniform model.</summary>
    private static TransformerLm UniformModel(int vocab, int context)
    {
        var model = new TransformerLm(new TransformerLmOptions { Layers = 1, DModel = 8, Heads = 2, Context = context, VocabSize = vocab });
        using var noGrad = torch.no_grad();
        model.TokenEmbedding.zero_();
        return model;
    }

    [Fact]
    public void UniformByteModelScoresEightBitsPerByte()
    {
        int[][] segments = [ByteTokenizer.Instance.Encode("It is a truth universally acknowledged, that a single man", "test")];
        using var windows = TokenWindows.FromSegments(segments, 8, 8);
        using var model = UniformModel(256, 8);
        var result = LmEvaluator.Evaluate(model, windows, ByteTokenizer.Instance, batchSize: 2);
        Assert.Equal(Math.Log(256), result.CrossEntropy, 5);
        Assert.Equal(8.0, result.BitsPerByte, 5);
        Assert.Equal(256, result.Perplexity, 2);
        Assert.Equal(windows.Count * 8, result.Tokens);
        Assert.Equal(result.Tokens, result.Bytes);
    }

    [Fact]
    public void CharModelConvertsToBitsPerByteWithUtf8Lengths()
    {
        const string text = "été à Noël, où l'œuf coûte cher; ça va";
        var tokenizer = CharTokenizer.FromText(text);
        int[][] segments = [tokenizer.Encode(text, "test")];
        using var windows = TokenWindows.FromSegments(segments, 6, 6);
        using var model = UniformModel(tokenizer.VocabSize, 6);
        var result = LmEvaluator.Evaluate(model, windows, tokenizer, batchSize: 4);

        var targets = windows.Targets.data<long>().ToArray();
        long bytes = targets.Sum(t => (long)Encoding.UTF8.GetByteCount(tokenizer.Symbols[(int)t]));
        Assert.Equal(bytes, result.Bytes);
        Assert.True(bytes > targets.Length, "the sample should contain multi-byte characters");
        double ce = Math.Log(tokenizer.VocabSize);
        Assert.Equal(ce, result.CrossEntropy, 5);
        Assert.Equal(ce * targets.Length / (Math.Log(2) * bytes), result.BitsPerByte, 5);
    }
}
