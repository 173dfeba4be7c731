using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Targets;
using Distill.Core.Text;
using Xunit.Abstractions;
using static Distill.Core.Tests.Export.ExportAssert;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export;

public class LmOnnxExportTests(ITestOutputHelper output)
{
    private static readonly TransformerLmOptions Sizes = new() { Layers = 2, DModel = 32, Heads = 4, Context = 16, VocabSize = 256 };

    /// <summary>A seeded model whose every parameter (biases and LayerNorms too) is away from its initial value, with
    /// weights <paramref name="scale"/> times their initial ones (20: peaked next-token distributions).</summary>
    private static TransformerLm NewModel(int seed, TransformerLmOptions? sizes = null, double scale = 20)
    {
        TorchSharp.torch.manual_seed(seed);
        var model = new TransformerLm(sizes ?? Sizes);
        using var noGrad = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal))
                p.normal_(0, 0.1);
            else if (name.Contains("ln", StringComparison.Ordinal))
                p.normal_(1, 0.1);
            else
                p.mul_(scale);
        }
        model.eval();
        return model;
    }

    private static string Export(TransformerLm model, ITokenizer tokenizer, string path, LmInt8Weights? int8 = null, bool kvCache = false)
    {
        var profile = new TargetProfile
        {
            Name = int8 is null ? "onnx-fp32" : "x86-vnni",
            Precision = int8 is null ? ExportPrecision.Float32 : ExportPrecision.Int8,
            KvCache = kvCache,
        };
        var card = LanguageModelExport.StaticCard(model, tokenizer, profile, int8, new ExportSource(null, "test"));
        var options = profile.ExportOptions(new Dictionary<string, string> { [ModelCard.MetadataKey] = ModelCard.ToJson(card, indented: false) });
        return LmOnnxExporter.Export(model, options, path, int8).Path;
    }

    private static float[] TorchLogits(TransformerLm model, long[] tokens, int batch, int sequence)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return model.forward(tensor(tokens, [batch, sequence])).contiguous().data<float>().ToArray();
    }

    private static long[] RandomTokens(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (long)random.Next(256)).ToArray();
    }

    [Fact]
    public void Fp32LogitsMatchTorchSharpForEveryBatchAndSequenceLength()
    {
        using var folder = new ExportFolder();
        using var model = NewModel(3);
        string path = Export(model, ByteTokenizer.Instance, folder.File("lm.onnx"));
        OnnxChecker.Check(path);
        using var runner = new OnnxLmRunner(path);
        Assert.Equal((16, 256, "byte"), (runner.Context, runner.VocabSize, runner.Tokenizer.Kind));
        foreach (var (batch, sequence) in new[] { (3, 16), (1, 1), (2, 7) })
        {
            var tokens = RandomTokens(batch * sequence, batch * 100 + sequence);
            var onnx = runner.Logits(tokens, batch, sequence);
            var torch = TorchLogits(model, tokens, batch, sequence);
            Assert.Equal(batch * sequence * 256, onnx.Length);
            double max = onnx.Zip(torch, (a, b) => Math.Abs(a - b)).Max();
            double range = torch.Max() - torch.Min();
            output.WriteLine($"[{batch}, {sequence}]: max |onnx - torch| {max:E2} (logit range {range:F1})");
            Assert.True(max <= 1e-4, $"[{batch}, {sequence}]: max |Δ| {max}");
        }

        var proto = Load(path);
        Assert.Equal((8L, 17L), (proto.IrVersion, proto.OpsetImport.Single().Version));
        Assert.Contains(proto.Graph.Node, n => n.OpType == "LayerNormalization");
        Assert.Contains(proto.Graph.Node, n => n.OpType == "Erf");
        // The tied head: the embedding is stored once and transposed in the graph.
        Assert.Single(proto.Graph.Initializer, t => t.Dims.SequenceEqual(new long[] { 256, 32 }));
    }

    [Fact]
    public void GreedyGenerationInOnnxRuntimeGivesTorchSharpsTokens()
    {
        using var folder = new ExportFolder();
        var chars = new CharTokenizer([.. "\n .,;abcdefghijklmnopqrstuvwxyzDEM".Select(c => c.ToString())]);
        using var small = NewModel(4, Sizes with { VocabSize = chars.VocabSize });
        string path = Export(small, chars, folder.File("char.onnx"));
        using var runner = new OnnxLmRunner(path);
        Assert.IsType<CharTokenizer>(runner.Tokenizer);
        Assert.Equal(chars.Symbols, ((CharTokenizer)runner.Tokenizer).Symbols);

        // 40 tokens after a 9-token prompt slide past the 16-token context.
        var greedy = new GenerationOptions { MaxTokens = 40, Temperature = 0 };
        var fromTorch = new TextGenerator(small, chars).Generate("Mr. Darcy", greedy);
        var fromOnnx = new TextGenerator(runner, runner.Tokenizer).Generate("Mr. Darcy", greedy);
        output.WriteLine($"torch: {fromTorch.Text}\nonnx:  {fromOnnx.Text}");
        Assert.Equal(fromTorch.Tokens, fromOnnx.Tokens);
        Assert.True(fromTorch.Tokens.Distinct().Count() > 3, "degenerate generation proves little");

        var sampled = new GenerationOptions { MaxTokens = 40, Temperature = 0.9, TopK = 10, Seed = 7 };
        Assert.Equal(new TextGenerator(small, chars).Generate("Mr. Darcy", sampled).Tokens,
            new TextGenerator(runner, runner.Tokenizer).Generate("Mr. Darcy", sampled).Tokens);
    }

    /// <summary>The KV-cache file against the full-recompute file of the same model: 200 greedy steps after a 5-token
    /// prompt with a 16-token context, so the windows slide (every step reruns the window in both files) or restart
    /// (the cache grows from 8 to 16 tokens between restarts): the same tokens and logits within 1e-4 at every step.</summary>
    [Theory]
    [InlineData(ContextOverflow.Slide)]
    [InlineData(ContextOverflow.Restart)]
    public void KvCacheFileGivesTheFullRecomputeFilesTokensAndLogitsFor200Steps(ContextOverflow overflow)
    {
        using var folder = new ExportFolder();
        using var model = NewModel(6, scale: 8);
        string full = Export(model, ByteTokenizer.Instance, folder.File("full.onnx"));
        string kv = Export(model, ByteTokenizer.Instance, folder.File("kv.onnx"), kvCache: true);
        OnnxChecker.Check(kv);
        using var fullFile = OnnxLmRunner.Open(full, 1);
        using var kvFile = OnnxLmRunner.Open(kv, 1);
        Assert.IsNotAssignableFrom<IKvCacheModel>(fullFile);
        var cached = Assert.IsAssignableFrom<IKvCacheModel>(kvFile);

        var fullWindows = new ContextWindow(fullFile, overflow);
        var kvWindows = new ContextWindow(kvFile, overflow);
        List<int> a = [.. ByteTokenizer.Instance.Encode("Mr. D", "prompt")], b = [.. a];
        double worst = 0;
        int appendedOne = 0;
        for (int step = 0; step < 200; step++)
        {
            var expected = fullWindows.Next(a);
            int before = cached.CachedTokens;
            var actual = kvWindows.Next(b);
            appendedOne += cached.CachedTokens == before + 1 ? 1 : 0;
            worst = Math.Max(worst, expected.Zip(actual, (x, y) => Math.Abs(x - y)).Max());
            a.Add(TextGenerator.Argmax(expected));
            b.Add(TextGenerator.Argmax(actual));
            Assert.Equal(a, b);
        }
        output.WriteLine($"{overflow}: max |logit diff| {worst:G3}, {appendedOne} of 200 steps ran one position; text {ByteTokenizer.Instance.Decode(b)}");
        Assert.True(worst <= 1e-4, $"max |logit diff| {worst}");
        Assert.True(a.Distinct().Count() > 5, "degenerate generation proves little");
        // Slide: only the steps while the text grows from 6 to 16 tokens extend the cache (11), every later one reruns the
        // full window. Restart: the cache is rebuilt at the prompt (5 tokens) and whenever the window would reach 17
        // tokens (17, 26, …, 197: 21 times, keeping 8), every other step appends one token: 200 − 22 = 178.
        Assert.Equal(overflow == ContextOverflow.Slide ? 11 : 178, appendedOne);

        var greedy = new GenerationOptions { MaxTokens = 200, Temperature = 0, Overflow = overflow };
        Assert.Equal(new TextGenerator(fullFile, ByteTokenizer.Instance).Generate("Mr. D", greedy).Tokens,
            new TextGenerator(kvFile, ByteTokenizer.Instance).Generate("Mr. D", greedy).Tokens);
    }

    /// <summary>Speculative decoding over KV-cache files (target and draft) keeps and cuts back both caches: with an
    /// unrelated draft (most proposals rejected) and with the model as its own draft (all accepted), greedy and sampled,
    /// the tokens are those of the full-recompute files; greedy, they are the target's own greedy tokens.</summary>
    [Fact]
    public void SpeculativeDecodingOverKvCacheFilesGivesTheFullRecomputeFilesTokens()
    {
        using var folder = new ExportFolder();
        var sizes = Sizes with { Context = 32 };
        using var target = NewModel(8, sizes, scale: 8);
        using var other = NewModel(9, sizes with { Layers = 1 }, scale: 8);
        using var targetFull = OnnxLmRunner.Open(Export(target, ByteTokenizer.Instance, folder.File("t.onnx")), 1);
        using var targetKv = OnnxLmRunner.Open(Export(target, ByteTokenizer.Instance, folder.File("t-kv.onnx"), kvCache: true), 1);
        using var otherFull = OnnxLmRunner.Open(Export(other, ByteTokenizer.Instance, folder.File("o.onnx")), 1);
        using var otherKv = OnnxLmRunner.Open(Export(other, ByteTokenizer.Instance, folder.File("o-kv.onnx"), kvCache: true), 1);
        var greedy = new GenerationOptions { MaxTokens = 60, Temperature = 0 };
        var sampled = new GenerationOptions { MaxTokens = 60, Temperature = 0.9, TopK = 20, Seed = 5 };
        var own = new TextGenerator(targetFull, ByteTokenizer.Instance).Generate("Mr. D", greedy).Tokens;
        foreach (var (draftFull, draftKv, name) in new[] { (otherFull, otherKv, "unrelated"), (targetFull, targetKv, "itself") })
        {
            foreach (var options in new[] { greedy, sampled })
            {
                var full = new TextGenerator(targetFull, ByteTokenizer.Instance) { Draft = new SpeculativeDraft(draftFull, 4) }.Generate("Mr. D", options);
                var kv = new TextGenerator(targetKv, ByteTokenizer.Instance) { Draft = new SpeculativeDraft(draftKv, 4) }.Generate("Mr. D", options);
                output.WriteLine($"draft {name}, T={options.Temperature}: acceptance {kv.Speculation!.AcceptanceRate:P0}");
                Assert.Equal(full.Tokens, kv.Tokens);
                Assert.Equal(full.Speculation, kv.Speculation);
                Assert.True(((IKvCacheModel)draftKv).CachedTokens > 0, "the draft ran through its cache");
                if (options.Temperature == 0)
                    Assert.Equal(own, kv.Tokens);
            }
        }
        Assert.True(own.Distinct().Count() > 5, "degenerate generation proves little");
    }

    [Fact]
    public void KvCacheFileDeclaresItsPastAndPresentTensorsAndItsCardDescribesThem()
    {
        using var folder = new ExportFolder();
        using var model = NewModel(7);
        string kv = Export(model, ByteTokenizer.Instance, folder.File("kv.onnx"), kvCache: true);
        var proto = Load(kv);
        Assert.Equal(["tokens", "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"],
            proto.Graph.Input.Select(i => i.Name));
        Assert.Equal(["logits", "present.0.key", "present.0.value", "present.1.key", "present.1.value"], proto.Graph.Output.Select(o => o.Name));
        var past = proto.Graph.Input[1].Type.TensorType.Shape.Dim;
        Assert.Equal(("batch", 4L, "past_sequence", 8L), (past[0].DimParam, past[1].DimValue, past[2].DimParam, past[3].DimValue));
        using var file = OnnxLmRunner.Open(kv, 1);
        var card = file.Card["kv_cache"]!.AsObject();
        Assert.Equal("[-1,4,-1,8]", card["shape"]!.ToJsonString());
        Assert.Equal("float32", card["dtype"]!.GetValue<string>());
        Assert.StartsWith("KV cache:", file.Card["decoding"]!.GetValue<string>());
        Assert.Null(Load(Export(model, ByteTokenizer.Instance, folder.File("full.onnx"))).Graph.Input.Skip(1).FirstOrDefault());
    }

    [Fact]
    public void Int8FileRunsIntegerMatMulsInOnnxRuntimeAndStaysCloseToTheFloatModel()
    {
        using var folder = new ExportFolder();
        using var model = NewModel(5, scale: 8);
        string fp32 = Export(model, ByteTokenizer.Instance, folder.File("fp32.onnx"));
        string int8 = Export(model, ByteTokenizer.Instance, folder.File("int8.onnx"), new LmInt8Weights());
        OnnxChecker.Check(int8);

        var proto = Load(int8);
        foreach (var matmul in new[] { "qkv", "proj" }.Select(m => $"blocks.1.attn.{m}").Concat(["blocks.0.mlp_fc", "blocks.0.mlp_proj"]))
        {
            var codes = Initializer(proto, $"{matmul}.weight.quantized");
            Assert.Equal(OnnxGraph.Int8, codes.DataType);
            Assert.Equal(127, codes.RawData.Max(b => Math.Abs((int)(sbyte)b)));
        }
        Assert.DoesNotContain(proto.Graph.Initializer, t => t.Name == "blocks.0.mlp_fc.weight");

        string optimized = folder.File("int8.optimized.onnx");
        using var runner = new OnnxLmRunner(int8, optimizedModelPath: optimized);
        var ops = Load(optimized).Graph.Node.Select(n => n.OpType).ToList();
        output.WriteLine($"ONNX Runtime's optimised int8 graph: {string.Join(", ", ops.GroupBy(o => o).Select(g => $"{g.Key} x{g.Count()}"))}");
        Assert.Equal(4 * Sizes.Layers, ops.Count(o => o == "DynamicQuantizeMatMul"));
        Assert.DoesNotContain("MatMulInteger", ops);

        using var float32 = new OnnxLmRunner(fp32);
        var tokens = RandomTokens(8 * 16, 9);
        var q = runner.Logits(tokens, 8, 16);
        var f = float32.Logits(tokens, 8, 16);
        int agree = 0;
        for (int p = 0; p < 8 * 16; p++)
            agree += OnnxLmEvaluator.ArgMax(q.AsSpan(p * 256, 256)) == OnnxLmEvaluator.ArgMax(f.AsSpan(p * 256, 256)) ? 1 : 0;
        double mean = q.Zip(f, (a, b) => Math.Abs(a - b)).Average();
        double spread = f.Select(Math.Abs).Average();
        output.WriteLine($"int8 vs fp32 on 128 random positions: next-token agreement {agree / 128.0:P1}, mean |Δ| {mean:F4} (mean |logit| {spread:F3})");
        Assert.True(agree >= 0.9 * 128, $"agreement {agree}/128");
        Assert.True(mean <= 0.05 * spread, $"mean |Δ| {mean} against mean |logit| {spread}");
        // The four matmuls per block hold 4·d² + 8·d² weights: a quarter of their bytes in int8, plus scales, zero
        // points and the names of three more nodes per matmul (a few kB at this toy size).
        long matmulBytes = Sizes.Layers * 12L * Sizes.DModel * Sizes.DModel * 4;
        long saved = new FileInfo(fp32).Length - new FileInfo(int8).Length;
        output.WriteLine($"sizes: fp32 {new FileInfo(fp32).Length} bytes, int8 {new FileInfo(int8).Length} bytes; fp32 matmul weights {matmulBytes} bytes");
        Assert.InRange(saved, (long)(0.6 * matmulBytes), (long)(0.75 * matmulBytes));
    }
}
