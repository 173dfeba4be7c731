using Distill.Core.Quantization;
using Distill.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Export.Onnx;

/// <summary>Writes a <see cref="TransformerLm"/> as an ONNX graph (opset 17) from int64 tokens [batch, seq] to float
/// logits [batch, seq, vocab], seq ≤ context. Positions come from Range(0, seq), the causal mask is a constant
/// [context, context] (0 on and below the diagonal, -inf above) sliced to [seq, seq]. LayerNormalization, exact erf
/// GELU (Div, Erf, Add, Mul, Mul: ONNX Runtime fuses it into Gelu) and a tied head (MatMul with the token embedding
/// transposed by a Transpose node, which ONNX Runtime folds at load; the file holds the embedding once).</summary>
/// <remarks>With <see cref="LmInt8Weights"/> the large matmuls (QKV, attention out-projection, MLP in and out,
/// optionally the head) are written in ONNX Runtime's dynamic-quantisation form: DynamicQuantizeLinear on the
/// activation (uint8, scale and zero point per run), MatMulInteger with symmetric int8 weight codes, Cast to float
/// and a multiply by activation scale × weight scale, then the float bias. ONNX Runtime fuses each such chain into
/// DynamicQuantizeMatMul (com.microsoft). Everything else (embeddings, LayerNorms, attention scores) stays float.</remarks>
internal sealed class LmGraphLowering
{
    private const float LayerNormEpsilon = 1e-5f;

    private readonly OnnxGraph _graph;
    private readonly TransformerLmOptions _options;
    private readonly Dictionary<string, (float[] Values, long[] Shape)> _weights;
    private readonly LmInt8Weights? _int8;
    private readonly LmInt4Export? _int4;
    private readonly HashSet<string> _quantizable;
    private readonly bool _kvCache;

    private LmGraphLowering(OnnxGraph graph, TransformerLm model, LmInt8Weights? int8, LmInt4Export? int4, bool kvCache)
    {
        _graph = graph;
        _options = model.Options;
        _int8 = int8;
        _int4 = int4;
        _kvCache = kvCache;
        _quantizable = model.Layers.Select(l => l.Name).ToHashSet();
        _weights = [];
        foreach (var (name, parameter) in model.named_parameters())
        {
            using var values = parameter.detach().cpu().to_type(ScalarType.Float32).contiguous();
            _weights[name] = (values.data<float>().ToArray(), values.shape);
        }
    }

    /// <summary>Adds the graph from <paramref name="tokens"/> to the float logits; returns the logits' name. With
    /// <paramref name="kvCache"/>, every block also reads its past keys and values and writes the present ones
    /// (<see cref="LmKvCacheLayout"/>; the caller declares them as graph inputs and outputs), and positions and the
    /// causal mask start after the past. With <paramref name="int4"/>, its layers are MatMulNBits nodes (com.microsoft).</summary>
    public static string Lower(OnnxGraph graph, TransformerLm model, LmInt8Weights? int8, string tokens, bool kvCache = false, LmInt4Export? int4 = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new LmGraphLowering(graph, model, int8, int4, kvCache).LowerModel(tokens);
    }

    private string LowerModel(string tokens)
    {
        int context = _options.Context;
        string one = _graph.Int64Tensor("const.one", [1], []);
        string shape = _graph.Node("Shape", "tokens.shape", [tokens], "tokens.shape");
        string seq = _graph.Node("Gather", "sequence_length", [shape, one], "sequence_length", OnnxGraph.Int("axis", 0));
        string seq1d = _graph.Node("Gather", "sequence_length_1d", [shape, _graph.Int64Tensor("const.one_1d", [1], [1])], "sequence_length_1d",
            OnnxGraph.Int("axis", 0));
        string first = _kvCache ? "" : _graph.Int64Tensor("const.zero", [0], []);
        string first1d = "";
        if (_kvCache)
        {
            string pastShape = _graph.Node("Shape", "past.shape", [LmKvCacheLayout.PastKey(0)], "past.shape");
            first = _graph.Node("Gather", "past_sequence_length", [pastShape, _graph.Int64Tensor("const.two", [2], [])], "past_sequence_length",
                OnnxGraph.Int("axis", 0));
            first1d = _graph.Node("Gather", "past_sequence_length_1d", [pastShape, _graph.Int64Tensor("const.two_1d", [2], [1])],
                "past_sequence_length_1d", OnnxGraph.Int("axis", 0));
        }
        string end = _kvCache ? _graph.Node("Add", "positions.end", [first, seq], "positions.end") : seq;
        string positions = _graph.Node("Range", "positions", [first, end, one], "positions");

        string tokEmb = Float("tok_emb.weight");
        string tok = _graph.Node("Gather", "tok_emb", [tokEmb, tokens], "tok_emb.output", OnnxGraph.Int("axis", 0));
        string pos = _graph.Node("Gather", "pos_emb", [Float("pos_emb.weight"), positions], "pos_emb.output", OnnxGraph.Int("axis", 0));
        string x = _graph.Node("Add", "embed", [tok, pos], "embed");

        var mask = new float[context * context];
        for (int row = 0; row < context; row++)
        {
            for (int col = row + 1; col < context; col++)
            {
                mask[row * context + col] = float.NegativeInfinity;
            }
        }
        // Rows: the input's positions (after the past); columns: every key position, past and present.
        string end1d = _kvCache ? _graph.Node("Add", "total_sequence_length_1d", [first1d, seq1d], "total_sequence_length_1d") : seq1d;
        string maskStarts = _kvCache
            ? _graph.Node("Concat", "causal_mask.starts", [first1d, _graph.Int64Tensor("const.zero_1d", [0], [1])], "causal_mask.starts",
                OnnxGraph.Int("axis", 0))
            : _graph.Int64Tensor("causal_mask.starts", [0, 0], [2]);
        string maskEnds = _graph.Node("Concat", "causal_mask.ends", [end1d, end1d], "causal_mask.ends", OnnxGraph.Int("axis", 0));
        string causal = _graph.Node("Slice", "causal_mask.slice",
            [_graph.FloatTensor("causal_mask", mask, [context, context]), maskStarts, maskEnds,
                _graph.Int64Tensor("causal_mask.axes", [0, 1], [2])],
            "causal_mask.sliced");

        for (int i = 0; i < _options.Layers; i++)
        {
            x = Block(i, x, causal);
        }
        x = LayerNorm("ln_f", x);
        if (_int8 is { Head: true })
        {
            var (values, embShape) = _weights["tok_emb.weight"];
            return QuantizedMatMul("head", x, values, embShape, bias: null, "logits");
        }
        string head = _graph.Node("Transpose", "head.transpose", [tokEmb], "head.weight", OnnxGraph.Ints("perm", [1, 0]));
        return _graph.Node("MatMul", "head", [x, head], "logits");
    }

    private string Block(int layer, string x, string causal)
    {
        string p = $"blocks.{layer}";
        int d = _options.DModel, heads = _options.Heads, headDim = d / heads;
        string h = LayerNorm($"{p}.ln1", x);
        string qkv = Linear($"{p}.attn.qkv", h);
        string split = Shared("const.qkv_split", name => _graph.Int64Tensor(name, [d, d, d], [3]));
        _graph.Node("Split", $"{p}.attn.split", [qkv, split], [$"{p}.attn.q", $"{p}.attn.k", $"{p}.attn.v"], OnnxGraph.Int("axis", -1));
        string heads4 = Shared("const.heads_shape", name => _graph.Int64Tensor(name, [0, 0, heads, headDim], [4]));
        string q = Heads($"{p}.attn.q", heads4, [0, 2, 1, 3]);
        string kT, v;
        if (_kvCache)
        {
            // Keys and values [B, heads, T, hd] are appended to the past along the sequence axis; the attention reads
            // the present ones (past + new), the keys transposed.
            string k = _graph.Node("Concat", $"{p}.attn.present_key", [LmKvCacheLayout.PastKey(layer), Heads($"{p}.attn.k", heads4, [0, 2, 1, 3])],
                LmKvCacheLayout.PresentKey(layer), OnnxGraph.Int("axis", 2));
            v = _graph.Node("Concat", $"{p}.attn.present_value", [LmKvCacheLayout.PastValue(layer), Heads($"{p}.attn.v", heads4, [0, 2, 1, 3])],
                LmKvCacheLayout.PresentValue(layer), OnnxGraph.Int("axis", 2));
            kT = _graph.Node("Transpose", $"{p}.attn.present_key.transpose", [k], $"{p}.attn.present_key.transposed", OnnxGraph.Ints("perm", [0, 1, 3, 2]));
        }
        else
        {
            kT = Heads($"{p}.attn.k", heads4, [0, 2, 3, 1]);
            v = Heads($"{p}.attn.v", heads4, [0, 2, 1, 3]);
        }
        string scale = Shared("const.attention_scale", name => _graph.FloatTensor(name, [(float)(1.0 / Math.Sqrt(headDim))], []));
        string scores = _graph.Node("MatMul", $"{p}.attn.scores", [q, kT], $"{p}.attn.scores");
        scores = _graph.Node("Mul", $"{p}.attn.scaled", [scores, scale], $"{p}.attn.scaled");
        scores = _graph.Node("Add", $"{p}.attn.masked", [scores, causal], $"{p}.attn.masked");
        string probs = _graph.Node("Softmax", $"{p}.attn.softmax", [scores], $"{p}.attn.probs", OnnxGraph.Int("axis", -1));
        string y = _graph.Node("MatMul", $"{p}.attn.context", [probs, v], $"{p}.attn.context");
        y = _graph.Node("Transpose", $"{p}.attn.merge_transpose", [y], $"{p}.attn.merged_t", OnnxGraph.Ints("perm", [0, 2, 1, 3]));
        string model3 = Shared("const.model_shape", name => _graph.Int64Tensor(name, [0, 0, d], [3]));
        y = _graph.Node("Reshape", $"{p}.attn.merge", [y, model3], $"{p}.attn.merged");
        y = Linear($"{p}.attn.proj", y);
        x = _graph.Node("Add", $"{p}.attn.residual", [x, y], $"{p}.attn.residual");

        h = LayerNorm($"{p}.ln2", x);
        h = Linear($"{p}.mlp_fc", h);
        h = Gelu($"{p}.gelu", h);
        h = Linear($"{p}.mlp_proj", h);
        return _graph.Node("Add", $"{p}.mlp.residual", [x, h], $"{p}.output");
    }

    /// <summary>[B, T, d] → [B, heads, T, hd] (or [B, heads, hd, T] for the keys).</summary>
    private string Heads(string name, string shape, long[] perm)
    {
        string reshaped = _graph.Node("Reshape", $"{name}.reshape", [name, shape], $"{name}.heads");
        return _graph.Node("Transpose", $"{name}.transpose", [reshaped], $"{name}.transposed", OnnxGraph.Ints("perm", perm));
    }

    private string LayerNorm(string name, string x) =>
        _graph.Node("LayerNormalization", name, [x, Float($"{name}.weight"), Float($"{name}.bias")], $"{name}.output",
            OnnxGraph.Int("axis", -1), OnnxGraph.FloatAttribute("epsilon", LayerNormEpsilon));

    /// <summary>x · 0.5 · (1 + erf(x / √2)), TorchSharp's default (exact) gelu.</summary>
    private string Gelu(string name, string x)
    {
        string sqrt2 = Shared("const.sqrt2", n => _graph.FloatTensor(n, [MathF.Sqrt(2f)], []));
        string oneF = Shared("const.one_float", n => _graph.FloatTensor(n, [1f], []));
        string half = Shared("const.half", n => _graph.FloatTensor(n, [0.5f], []));
        string scaled = _graph.Node("Div", $"{name}.div", [x, sqrt2], $"{name}.div");
        string erf = _graph.Node("Erf", $"{name}.erf", [scaled], $"{name}.erf");
        string plus = _graph.Node("Add", $"{name}.add", [erf, oneF], $"{name}.add");
        string times = _graph.Node("Mul", $"{name}.mul", [x, plus], $"{name}.mul");
        return _graph.Node("Mul", $"{name}.half", [times, half], $"{name}.output");
    }

    /// <summary>x · Wᵀ + b of a torch Linear (weight [out, in]); the file stores the weight as [in, out].</summary>
    private string Linear(string name, string x)
    {
        var (weight, shape) = _weights[$"{name}.weight"];
        if (_int4 is not null && _int4.Layers.TryGetValue(name, out var groups))
        {
            return MatMulNBits(name, x, groups, $"{name}.bias", $"{name}.output");
        }
        if (_int8 is not null && _quantizable.Contains(name))
        {
            return QuantizedMatMul(name, x, weight, shape, $"{name}.bias", $"{name}.output");
        }
        string w = _graph.FloatTensor($"{name}.weight", Transpose(weight, shape), [shape[1], shape[0]]);
        string y = _graph.Node("MatMul", $"{name}.matmul", [x, w], $"{name}.matmul");
        return _graph.Node("Add", $"{name}.bias_add", [y, Float($"{name}.bias")], $"{name}.output");
    }

    /// <summary>DynamicQuantizeLinear → MatMulInteger → Cast → Mul(x_scale · w_scale) [→ Add bias], with weight codes
    /// [in, out] from the torch-layout <paramref name="weight"/> [out, in].</summary>
    private string QuantizedMatMul(string name, string x, float[] weight, long[] shape, string? bias, string output)
    {
        var (codes, scales) = LmWeightQuantizer.Quantize(weight, (int)shape[0], (int)shape[1], _int8!.Bits, _int8.PerChannel);
        long[] paramDims = _int8.PerChannel ? [shape[0]] : [];
        string wq = _graph.Int8Tensor($"{name}.weight.quantized", codes, [shape[1], shape[0]]);
        string wz = _graph.Int8Tensor($"{name}.weight.zero_point", new sbyte[scales.Length], paramDims);
        string ws = _graph.FloatTensor($"{name}.weight.scale", scales, paramDims);
        _graph.Node("DynamicQuantizeLinear", $"{name}.input.quantize", [x],
            [$"{name}.input.quantized", $"{name}.input.scale", $"{name}.input.zero_point"]);
        string integer = _graph.Node("MatMulInteger", $"{name}.matmul_integer",
            [$"{name}.input.quantized", wq, $"{name}.input.zero_point", wz], $"{name}.matmul_int32");
        string asFloat = _graph.Node("Cast", $"{name}.cast", [integer], $"{name}.matmul_int32.float", OnnxGraph.Int("to", OnnxGraph.Float));
        string scale = _graph.Node("Mul", $"{name}.scale", [$"{name}.input.scale", ws], $"{name}.output.scale");
        if (bias is null)
        {
            return _graph.Node("Mul", $"{name}.rescale", [asFloat, scale], output);
        }
        string y = _graph.Node("Mul", $"{name}.rescale", [asFloat, scale], $"{name}.matmul");
        return _graph.Node("Add", $"{name}.bias_add", [y, Float(bias)], output);
    }

    /// <summary>ONNX Runtime's MatMulNBits (com.microsoft): x [.., K] times the 4-bit group-quantised weight [N, K]
    /// transposed, then the float bias.</summary>
    private string MatMulNBits(string name, string x, GroupQuantizedMatrix w, string bias, string output)
    {
        string b = _graph.UInt8Tensor($"{name}.weight.packed", w.PackedCodes(), [w.Rows, w.Groups, w.GroupSize / 2]);
        string scales = _graph.FloatTensor($"{name}.weight.scales", w.Scales, [w.Rows * w.Groups]);
        List<string> inputs = [x, b, scales];
        if (!w.Symmetric)
        {
            var zeros = w.PackedZeroPoints();
            inputs.Add(_graph.UInt8Tensor($"{name}.weight.zero_points", zeros, [zeros.Length]));
        }
        string y = _graph.Node("MatMulNBits", $"{name}.matmul_nbits", inputs, $"{name}.matmul",
            OnnxGraph.Int("K", w.Columns), OnnxGraph.Int("N", w.Rows), OnnxGraph.Int("bits", GroupQuantizedMatrix.Bits),
            OnnxGraph.Int("block_size", w.GroupSize), OnnxGraph.Int("accuracy_level", _int4!.AccuracyLevel));
        _graph.Proto.Node[^1].Domain = OnnxGraph.MicrosoftDomain;
        return _graph.Node("Add", $"{name}.bias_add", [y, Float(bias)], output);
    }

    /// <summary>A model parameter as a float initializer (added once).</summary>
    private string Float(string name) => Shared(name, n => _graph.FloatTensor(n, _weights[n].Values, _weights[n].Shape));

    /// <summary>An initializer every block uses: added by <paramref name="add"/> the first time.</summary>
    private string Shared(string name, Func<string, string> add) => _graph.HasInitializer(name) ? name : add(name);

    private static float[] Transpose(float[] values, long[] shape)
    {
        int rows = (int)shape[0], cols = (int)shape[1];
        var result = new float[values.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                result[c * rows + r] = values[r * cols + c];
            }
        }
        return result;
    }
}

/// <summary>The 4-bit layers of an LM export, by layer name, and the MatMulNBits accuracy level they run at.</summary>
public sealed record LmInt4Export(IReadOnlyDictionary<string, GroupQuantizedMatrix> Layers, int AccuracyLevel);

/// <summary>How the large matmuls of an int8 LM export hold their weights: symmetric signed codes of
/// <paramref name="Bits"/> bits (±(2^(Bits-1) − 1), zero point 0), one scale per output feature or one per matrix,
/// and whether the tied head is quantised too.</summary>
public sealed record LmInt8Weights(int Bits = 8, bool PerChannel = true, bool Head = false);

/// <summary>Symmetric weight quantisation of a torch Linear weight [out, in] into codes laid out [in, out] for MatMulInteger.</summary>
internal static class LmWeightQuantizer
{
    public static (sbyte[] Codes, float[] Scales) Quantize(float[] weight, int outFeatures, int inFeatures, int bits, bool perChannel)
    {
        int qmax = (1 << (bits - 1)) - 1;
        var scales = new float[perChannel ? outFeatures : 1];
        for (int o = 0; o < outFeatures; o++)
        {
            float max = 0;
            for (int i = 0; i < inFeatures; i++)
            {
                max = Math.Max(max, Math.Abs(weight[o * inFeatures + i]));
            }
            int s = perChannel ? o : 0;
            scales[s] = Math.Max(scales[s], max);
        }
        for (int s = 0; s < scales.Length; s++)
        {
            scales[s] = scales[s] > 0 ? scales[s] / qmax : 1f;
        }
        var codes = new sbyte[weight.Length];
        for (int o = 0; o < outFeatures; o++)
        {
            float scale = scales[perChannel ? o : 0];
            for (int i = 0; i < inFeatures; i++)
            {
                double code = Math.Round(weight[o * inFeatures + i] / (double)scale, MidpointRounding.ToEven);
                codes[i * outFeatures + o] = (sbyte)Math.Clamp(code, -qmax, qmax);
            }
        }
        return (codes, scales);
    }
}
