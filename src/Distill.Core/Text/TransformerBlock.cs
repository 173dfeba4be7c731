using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>Pre-norm transformer block: x + attn(ln1(x)), then x + mlp_proj(gelu(mlp_fc(ln2(x)))).</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006
    private readonly LayerNorm ln1;
    private readonly CausalSelfAttention attn;
    private readonly LayerNorm ln2;
    private readonly Linear mlp_fc;
    private readonly Linear mlp_proj;
    private readonly Dropout dropout;
#pragma warning restore IDE1006

    internal TransformerBlock(string name, TransformerLmOptions options)
        : base(name)
    {
        ln1 = nn.LayerNorm(options.DModel);
        attn = new CausalSelfAttention(options.DModel, options.Heads, options.Dropout);
        ln2 = nn.LayerNorm(options.DModel);
        mlp_fc = nn.Linear(options.DModel, options.FeedForward);
        mlp_proj = nn.Linear(options.FeedForward, options.DModel);
        dropout = nn.Dropout(options.Dropout);
        register_module("ln1", ln1);
        register_module("attn", attn);
        register_module("ln2", ln2);
        register_module("mlp_fc", mlp_fc);
        register_module("mlp_proj", mlp_proj);
        register_module("dropout", dropout);
    }

    public CausalSelfAttention Attention => attn;
    public Linear MlpFc => mlp_fc;
    public Linear MlpProj => mlp_proj;

    public override Tensor forward(Tensor x) => Run(x, false).Output;

    public (Tensor Output, Tensor? Map) Run(Tensor x, bool returnMap)
    {
        var (attended, map) = attn.Attend(ln1.call(x), returnMap);
        x = x.Plus(dropout.call(attended));
        x = x.Plus(dropout.call(mlp_proj.call(nn.functional.gelu(mlp_fc.call(ln2.call(x))))));
        return (x, map);
    }
}
