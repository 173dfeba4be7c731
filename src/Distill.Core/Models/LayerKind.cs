namespace Distill.Core.Models;

/// <summary>What a node of a <see cref="ModelGraph"/> computes. One vocabulary for the zoo, quantisation,
/// pruning, every lowering and the language model's description. Shapes are per sample, channels first.</summary>
public enum LayerKind
{
    /// <summary>2-D convolution y = W ∗ x + b, W [O, I, kH, kW] (a nn.Conv2d with groups 1).</summary>
    Conv,

    /// <summary>Depthwise convolution: groups = channels, W [C, 1, kH, kW], output channel c sees input channel c only.</summary>
    Depthwise,

    /// <summary>Fully connected y = x·Wᵀ + b, W [out, in] (a nn.Linear).</summary>
    Linear,

    /// <summary>y = γ·(x − μ)/√(σ² + ε) + β per channel (a nn.BatchNorm2d); foldable into the conv before it.</summary>
    BatchNorm,

    /// <summary>max(x, 0).</summary>
    Relu,

    /// <summary>min(max(x, 0), 6).</summary>
    Relu6,

    /// <summary>Max over windows (a nn.MaxPool2d, which holds kernel, stride, padding).</summary>
    MaxPool,

    /// <summary>Mean over the spatial dimensions: [C, H, W] → [C].</summary>
    GlobalAvgPool,

    /// <summary>[C, H, W] → [C·H·W] in C order.</summary>
    Flatten,

    /// <summary>Identity at inference; zeroes with probability p and scales by 1/(1 − p) in training (a nn.Dropout).</summary>
    Dropout,

    /// <summary>Elementwise sum of its inputs (a residual join).</summary>
    Add,

    /// <summary>Normalisation over the last dimension with a learned scale and shift (a nn.LayerNorm).</summary>
    LayerNorm,

    /// <summary>Row lookup in a table [V, d] (a nn.Embedding).</summary>
    Embedding,
}

public static class LayerKinds
{
    /// <summary>Kinds whose node owns a weight matrix or filter bank that quantisation and pruning act on.</summary>
    public static bool HasWeights(this LayerKind kind) => kind is LayerKind.Conv or LayerKind.Depthwise or LayerKind.Linear;

    /// <summary>Kinds whose output channel c depends on input channel c only (and on nothing else of the input),
    /// so a channel that is zero on the way in can be removed on the way out.</summary>
    public static bool IsChannelwise(this LayerKind kind) =>
        kind is LayerKind.Depthwise or LayerKind.BatchNorm or LayerKind.Relu or LayerKind.Relu6 or LayerKind.MaxPool or LayerKind.Dropout;
}
