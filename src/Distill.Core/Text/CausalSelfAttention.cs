using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>Multi-head causal self-attention: submodules "qkv" (d → 3d) and "proj" (d → d).</summary>
public sealed class CausalSelfAttention : nn.Module<Tensor, Tensor>
{
    // Fields carry the registered names (auto-property backing fields would be registered twice; see ModuleGroup).
#pragma warning disable IDE1006
    private readonly Linear qkv;
    private readonly Linear proj;
#pragma warning restore IDE1006
    private readonly int _heads;
    private readonly double _dropout;

    internal CausalSelfAttention(int dModel, int heads, double dropout)
        : base("attn")
    {
        _heads = heads;
        _dropout = dropout;
        qkv = nn.Linear(dModel, 3 * dModel);
        proj = nn.Linear(dModel, dModel);
        register_module("qkv", qkv);
        register_module("proj", proj);
    }

    public Linear Qkv => qkv;
    public Linear Proj => proj;

    public override Tensor forward(Tensor x) => Attend(x, false).Output;

    /// <summary>Output [B, T, d] and, when <paramref name="returnMap"/>, the attention probabilities
    /// [B, heads, T, T] (row t: weights over keys 0..t, before dropout).</summary>
    public (Tensor Output, Tensor? Map) Attend(Tensor x, bool returnMap)
    {
        long batch = x.shape[0], time = x.shape[1], d = x.shape[2];
        long headDim = d / _heads;
        var parts = qkv.call(x).view(batch, time, 3, _heads, headDim).permute(2, 0, 3, 1, 4);
        var q = parts[0];
        var k = parts[1];
        var v = parts[2];
        double p = training ? _dropout : 0.0;
        Tensor y;
        Tensor? map = null;
        if (returnMap)
        {
            var scores = q.matmul(k.transpose(-2, -1)).Times(1.0 / Math.Sqrt(headDim));
            using var future = ones(time, time, ScalarType.Bool, x.device).triu(1);
            map = scores.FilledWhere(future, double.NegativeInfinity).softmax(-1);
            y = nn.functional.dropout(map, p, training).matmul(v);
        }
        else
        {
            y = nn.functional.scaled_dot_product_attention(q, k, v, null, p, true);
        }
        y = y.transpose(1, 2).reshape(batch, time, d);
        return (proj.call(y), map);
    }
}
