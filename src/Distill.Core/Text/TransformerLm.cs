using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>What <see cref="TransformerLm.Run"/> returns: logits [B, T, V], the requested hidden states
/// [B, T, d] by name, and (when asked) each block's attention probabilities [B, heads, T, T] by block name.
/// Tensors belong to the caller's dispose scope.</summary>
public sealed record LmOutput(Tensor Logits, IReadOnlyDictionary<string, Tensor> Hidden, IReadOnlyDictionary<string, Tensor> Attention);

/// <summary>Decoder-only transformer language model: token + learned position embeddings ("tok_emb",
/// "pos_emb"), pre-norm blocks ("blocks.0" …), a final LayerNorm ("ln_f") and an output head that is the
/// token embedding transposed (tied: one parameter).</summary>
public sealed class TransformerLm : nn.Module<Tensor, Tensor>, ILmLogitSource
{
    public const string EmbeddingName = "embed";
    public const string FinalName = "final";

#pragma warning disable IDE1006
    private readonly Embedding tok_emb;
    private readonly Embedding pos_emb;
    private readonly Dropout drop;
    private readonly ModuleList<TransformerBlock> blocks;
    private readonly LayerNorm ln_f;
#pragma warning restore IDE1006
    private readonly List<string> _hiddenNames;

    /// <param name="cancel">Checked between blocks: a large model takes seconds to initialise.</param>
    public TransformerLm(TransformerLmOptions options, CancellationToken cancel = default)
        : base("transformer_lm")
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        tok_emb = nn.Embedding(options.VocabSize, options.DModel);
        pos_emb = nn.Embedding(options.Context, options.DModel);
        drop = nn.Dropout(options.Dropout);
        var built = new TransformerBlock[options.Layers];
        for (int i = 0; i < built.Length; i++)
        {
            cancel.ThrowIfCancellationRequested();
            built[i] = new TransformerBlock(BlockName(i), options);
        }
        blocks = new ModuleList<TransformerBlock>(built);
        ln_f = nn.LayerNorm(options.DModel);
        register_module("tok_emb", tok_emb);
        register_module("pos_emb", pos_emb);
        register_module("drop", drop);
        register_module("blocks", blocks);
        register_module("ln_f", ln_f);
        InitialiseWeights();
        _hiddenNames = [EmbeddingName, .. Enumerable.Range(0, options.Layers).Select(BlockName), FinalName];
        Layers = DescribeLayers();
        ParameterCount = parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    }

    public TransformerLmOptions Options { get; }

    /// <summary>Trainable parameters, counted when the model was built.</summary>
    public long ParameterCount { get; }

    /// <summary>"embed" (token + position embedding), "block0".."block{L-1}" (each block's output), "final"
    /// (after the last LayerNorm, the input of the tied head).</summary>
    public IReadOnlyList<string> HiddenNames => _hiddenNames;

    /// <summary>The linear layers (the matmuls that int8 and lower-bit exports quantise) in forward order, in the
    /// vocabulary of <see cref="Models.ModelGraph"/>: per block "blocks.{i}.attn.qkv" [3d], "blocks.{i}.attn.proj" [d],
    /// "blocks.{i}.mlp_fc" [d_ff], "blocks.{i}.mlp_proj" [d] (each owning "{name}.weight" and "{name}.bias"), then the
    /// tied head "head" [V], whose weight is the token embedding. Shapes are per token.</summary>
    /// <remarks>Only a description: the forward runs <see cref="TransformerBlock"/> rather than a graph, because the
    /// attention (fused scaled-dot-product kernel, optional attention maps) and the residual adds between these
    /// layers have no node kinds yet; inputs name the tensor each layer reads, as the ONNX lowering names it.</remarks>
    public IReadOnlyList<Models.GraphNode> Layers { get; }

    /// <summary>The token embedding [V, d], also the output head's weight.</summary>
    public Parameter TokenEmbedding => tok_emb.weight!;

    public static string BlockName(int index) => $"block{index}";

    /// <summary>Logits [B, T, V] for token ids [B, T] (T ≤ context).</summary>
    public override Tensor forward(Tensor tokens) => Run(tokens, [], false).Logits;

    int ILmLogitSource.VocabSize => Options.VocabSize;

    /// <summary>Logits in eval mode under no_grad; the model's mode is restored.</summary>
    Tensor ILmLogitSource.Logits(Tensor tokens)
    {
        bool wasTraining = training;
        eval();
        try
        {
            using var noGrad = no_grad();
            return forward(tokens);
        }
        finally
        {
            train(wasTraining);
        }
    }

    /// <summary>Logits plus the named hidden states (<see cref="HiddenNames"/>) and, when
    /// <paramref name="attention"/>, every block's attention map (slower: no fused attention kernel).</summary>
    public LmOutput Run(Tensor tokens, IReadOnlyCollection<string> hidden, bool attention)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(hidden);
        foreach (var name in hidden)
        {
            if (!_hiddenNames.Contains(name))
            {
                throw new ArgumentException($"'{name}' is not a hidden state of this model; valid: {string.Join(", ", _hiddenNames)}.", nameof(hidden));
            }
        }
        if (tokens.dim() != 2 || tokens.shape[1] > Options.Context || tokens.shape[1] < 1)
        {
            throw new ArgumentException(
                $"Tokens must be [batch, time] with 1 ≤ time ≤ {Options.Context}; got [{string.Join(",", tokens.shape)}].", nameof(tokens));
        }
        var captured = new Dictionary<string, Tensor>();
        var maps = new Dictionary<string, Tensor>();
        long time = tokens.shape[1];
        using var positions = ScalarMath.Range(time, ScalarType.Int64, tokens.device);
        var x = drop.call(tok_emb.call(tokens).Plus(pos_emb.call(positions)));
        Capture(EmbeddingName, x);
        for (int i = 0; i < blocks.Count; i++)
        {
            var (output, map) = blocks[i].Run(x, attention);
            x = output;
            Capture(BlockName(i), x);
            if (map is not null)
            {
                maps[BlockName(i)] = map;
            }
        }
        x = ln_f.call(x);
        Capture(FinalName, x);
        var logits = nn.functional.linear(x, tok_emb.weight!);
        return new LmOutput(logits, captured, maps);

        void Capture(string name, Tensor value)
        {
            if (hidden.Contains(name))
            {
                captured[name] = value;
            }
        }
    }

    private List<Models.GraphNode> DescribeLayers()
    {
        long d = Options.DModel;
        var layers = new List<Models.GraphNode>();
        for (int i = 0; i < blocks.Count; i++)
        {
            string p = $"blocks.{i}";
            var block = blocks[i];
            layers.Add(new($"{p}.attn.qkv", Models.LayerKind.Linear, block.Attention.Qkv, [$"{p}.ln1"], [3 * d]));
            layers.Add(new($"{p}.attn.proj", Models.LayerKind.Linear, block.Attention.Proj, [$"{p}.attn"], [d]));
            layers.Add(new($"{p}.mlp_fc", Models.LayerKind.Linear, block.MlpFc, [$"{p}.ln2"], [Options.FeedForward]));
            layers.Add(new($"{p}.mlp_proj", Models.LayerKind.Linear, block.MlpProj, [$"{p}.gelu"], [d]));
        }
        layers.Add(new("head", Models.LayerKind.Linear, tok_emb, ["ln_f"], [Options.VocabSize]));
        return layers;
    }

    /// <summary>GPT-2 style: weights N(0, 0.02), biases 0, LayerNorms at identity.</summary>
    private void InitialiseWeights()
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal) || name.StartsWith("ln_", StringComparison.Ordinal) || name.Contains(".ln", StringComparison.Ordinal))
            {
                continue;
            }
            parameter.normal_(0.0, 0.02);
        }
    }
}
