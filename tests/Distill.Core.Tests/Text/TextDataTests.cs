using System.Text;
using Distill.Core.Text;
using TorchSharp;

namespace Distill.Core.Tests.Text;

public class TextDataTests
{
    [Fact]
    public void ByteTokenizerRoundTripsUtf8()
    {
        const string text = "Café — naïve 😀";
        var tokens = ByteTokenizer.Instance.Encode(text, "test");
        Assert.Equal(Encoding.UTF8.GetBytes(text).Select(b => (int)b), tokens);
        Assert.Equal(text, ByteTokenizer.Instance.Decode(tokens));
        Assert.Equal(256, ByteTokenizer.Instance.VocabSize);
    }

    [Fact]
    public void CharTokenizerBuildsSortedVocabularyAndRejectsUnknownCharacters()
    {
        var tokenizer = CharTokenizer.FromText("baba é😀");
        Assert.Equal(new[] { " ", "a", "b", "é", "😀" }, tokenizer.Symbols);
        var tokens = tokenizer.Encode("abé😀", "test");
        Assert.Equal(new[] { 1, 2, 3, 4 }, tokens);
        Assert.Equal("abé😀", tokenizer.Decode(tokens));
        Assert.Equal(2, tokenizer.ByteLength(3));
        Assert.Equal(4, tokenizer.ByteLength(4));
        var error = Assert.Throws<InvalidInputException>(() => tokenizer.Encode("abz", "prompt"));
        Assert.Contains("prompt", error.Message);
        Assert.Contains("'z'", error.Message);
    }

    [Fact]
    public void TokenizerFileRoundTripsAndRejectsBadFiles()
    {
        string dir = TextTestData.NewTempDir();
        try
        {
            var chars = CharTokenizer.FromText("Hello, wörld\n");
            string path = Path.Combine(dir, "tokenizer.json");
            TokenizerFile.Save(chars, path);
            var loaded = Assert.IsType<CharTokenizer>(TokenizerFile.Load(path));
            Assert.Equal(chars.Symbols, loaded.Symbols);

            TokenizerFile.Save(ByteTokenizer.Instance, path);
            Assert.IsType<ByteTokenizer>(TokenizerFile.Load(path));

            File.WriteAllText(path, "{\"kind\":\"word\"}");
            var error = Assert.Throws<InvalidInputException>(() => TokenizerFile.Load(path));
            Assert.Contains(path, error.Message);
            File.WriteAllText(path, "{\"kind\":\"char\",\"symbols\":[\"a\",\"a\"]}");
            Assert.Contains("repeats", Assert.Throws<InvalidInputException>(() => TokenizerFile.Load(path)).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void CorpusRejectsEmptyAndBinaryFilesNamingThem()
    {
        string dir = TextTestData.NewTempDir();
        try
        {
            string empty = Path.Combine(dir, "empty.txt");
            File.WriteAllBytes(empty, []);
            var error = Assert.Throws<InvalidInputException>(() => TextCorpus.Load(empty));
            Assert.Contains(empty, error.Message);
            Assert.Contains("empty", error.Message);

            string nul = Path.Combine(dir, "nul.bin");
            File.WriteAllBytes(nul, [0x61, 0x62, 0x00, 0x63]);
            error = Assert.Throws<InvalidInputException>(() => TextCorpus.Load(nul));
            Assert.Contains(nul, error.Message);
            Assert.Contains("NUL byte at byte offset 2", error.Message);

            string latin1 = Path.Combine(dir, "latin1.txt");
            File.WriteAllBytes(latin1, [0x63, 0x61, 0x66, 0xE9, 0x20, 0x61]);
            error = Assert.Throws<InvalidInputException>(() => TextCorpus.Load(latin1));
            Assert.Contains(latin1, error.Message);
            Assert.Contains("invalid UTF-8 at byte offset 3", error.Message);

            string bom = Path.Combine(dir, "bom.txt");
            File.WriteAllBytes(bom, [0xEF, 0xBB, 0xBF, 0x68, 0x69]);
            var corpus = TextCorpus.Load(bom);
            Assert.Equal("hi", corpus.Text);
            Assert.Equal(2, corpus.ByteCount);

            Assert.Contains("not found", Assert.Throws<InvalidInputException>(() => TextCorpus.Load(Path.Combine(dir, "missing.txt"))).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void SplitBlocksIsContiguousAndKeepsTheFraction()
    {
        var tokens = Enumerable.Range(0, 1000).ToArray();
        var (train, validation) = TextData.SplitBlocks(tokens, 4, 0.1);
        Assert.Equal(4, train.Count);
        Assert.Equal(4, validation.Count);
        Assert.Equal(100, validation.Sum(s => s.Length));
        // Block b is train[b] followed by validation[b]; the blocks in order give back the whole stream.
        var rebuilt = Enumerable.Range(0, 4).SelectMany(b => train[b].Concat(validation[b])).ToArray();
        Assert.Equal(tokens, rebuilt);
        Assert.Equal(Enumerable.Range(225, 25), validation[0]);
    }

    [Fact]
    public void WindowsShiftTargetsByOneAndStayInsideSegments()
    {
        int[][] segments = [Enumerable.Range(0, 10).ToArray(), Enumerable.Range(100, 7).ToArray()];
        using var windows = TokenWindows.FromSegments(segments, context: 3, stride: 3);
        // Segment 0 (10 tokens): starts 0, 3, 6 (6 + 4 ≤ 10); segment 1 (7 tokens): starts 0, 3.
        Assert.Equal(5, windows.Count);
        var inputs = windows.Inputs.data<long>().ToArray();
        var targets = windows.Targets.data<long>().ToArray();
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 101, 102, 103, 104, 105 }, inputs);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 101, 102, 103, 104, 105, 106 }, targets);
    }

    [Fact]
    public void ShippedCorpusLoadsAsBytesAndChars()
    {
        var options = new TextDataOptions { Context = 64, ValidationFraction = 0.1, Blocks = 10 };
        using var bytes = TextData.Load(TextTestData.Corpus, options);
        Assert.Equal(684_768, bytes.Corpus.ByteCount);
        Assert.Equal(256, bytes.Tokenizer.VocabSize);
        long validationTokens = bytes.Validation.TokenCount;
        Assert.InRange(validationTokens, 68_400, 68_550);
        Assert.Equal(684_768, bytes.Train.TokenCount + validationTokens);
        Assert.True(bytes.Train.Count > 9_000, $"{bytes.Train.Count} training windows");
        Assert.Equal(torch.ScalarType.Int64, bytes.Train.Inputs.dtype);

        using var chars = TextData.Load(TextTestData.Corpus, options with { Tokenizer = "char" });
        Assert.Equal(75, chars.Tokenizer.VocabSize);
        Assert.Equal("It is a truth", chars.Tokenizer.Decode(chars.Tokenizer.Encode("It is a truth", "test")));
    }

    [Fact]
    public void TooShortCorpusIsBadInput()
    {
        string dir = TextTestData.NewTempDir();
        try
        {
            string path = Path.Combine(dir, "short.txt");
            File.WriteAllText(path, "Only a few words here.");
            var error = Assert.Throws<InvalidInputException>(() => TextData.Load(path, new TextDataOptions { Context = 64 }));
            Assert.Contains(path, error.Message);
            Assert.Contains("too short", error.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
