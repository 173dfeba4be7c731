using Distill.Core.Text;

namespace Distill.Core.Models;

public enum ModelArch { Mlp, Cnn, TransformerLm, Resnet, MobileNetV2 }

public sealed record ModelSpec
{
    public ModelArch Arch { get; init; } = ModelArch.Cnn;

    /// <summary>mlp: widths of the hidden layers. cnn, resnet: widths of the hidden layers of the classifier head.</summary>
    public int[] Hidden { get; init; } = [];

    /// <summary>cnn: output channels of each conv block. resnet, mobilenet_v2: width of each stage (mobilenet_v2: before its width multiplier).</summary>
    public int[] Channels { get; init; } = [];

    /// <summary>resnet: basic residual blocks per stage; mobilenet_v2: inverted residual blocks per stage; same length as
    /// <see cref="Channels"/>, each at least 1.</summary>
    public int[] Blocks { get; init; } = [];

    /// <summary>mobilenet_v2: how many times an inverted residual block widens its input before the depthwise conv.</summary>
    public int Expansion { get; init; } = 6;

    /// <summary>mobilenet_v2: every stage's width is channels[s] times this, rounded to a multiple of 8.</summary>
    public double WidthMultiplier { get; init; } = 1.0;

    /// <summary>mobilenet_v2: <see cref="Channels"/> are the stage widths as built, the width multiplier and its rounding
    /// already applied (as a channel-pruning shrink leaves them).</summary>
    public bool ExactWidths { get; init; }

    /// <summary>resnet, mobilenet_v2: the width of each block's inner layers (resnet conv1; mobilenet_v2 expand and
    /// depthwise), in block order over all stages, as a channel-pruning shrink leaves them; null = the default (the
    /// stage width; mobilenet_v2 the block's input width times <see cref="Expansion"/>).</summary>
    public int[]? InnerWidths { get; init; }

    /// <summary>cnn: which blocks are depthwise-separable (depthwise 3x3 + pointwise 1x1); null = none.
    /// Same length as <see cref="Channels"/>. The first block on a 1-channel input may not be.</summary>
    public bool[]? Depthwise { get; init; }

    /// <summary>cnn: 2x2 max-pool after each block; null = pool after every block.</summary>
    public bool[]? Pool { get; init; }

    public int KernelSize { get; init; } = 3;
    public bool BatchNorm { get; init; } = true;
    public double Dropout { get; init; }

    /// <summary>transformer-lm: layers, d_model, heads, d_ff (context and vocabulary come from the data); dropout is <see cref="Dropout"/>.</summary>
    public TransformerLmOptions? Lm { get; init; }
}
