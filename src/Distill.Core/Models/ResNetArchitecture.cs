using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>Stages of a resnet are at least <see cref="MinWidth"/> channels wide: with LibTorch 2.10's oneDNN
/// convolutions (TorchSharp 0.107, CPU), the input gradient of a 3x3 conv with 4, 8 or 12 channels comes out NaN now
/// and then (seen here in 1 to 11 of 20 backward passes of a 64-image batch; none at 16 channels or more, none with
/// oneDNN off), and a residual block's same-width convs hit that at once. A narrower resnet is refused rather than left
/// to diverge.</summary>
public static class ResNetLimits
{
    public const int MinWidth = 16;

    /// <summary>Why narrower stages are refused, for messages.</summary>
    public const string MinWidthReason =
        "LibTorch's oneDNN convolution gradient turns NaN now and then for narrower convs (docs/architecture.md, Other platform notes)";
}

/// <summary>resnet: a stem "stem.conv" 3x3 → "stem.bn" → ReLU, then stages of basic residual blocks
/// "stage{s}_block{b}", then global average pooling "pool" and the classifier head (<see cref="ClassifierHead"/>)
/// with a dropout on its input. A block is conv1 3x3 → bn1 → ReLU → conv2 3x3 → bn2, plus the shortcut (the
/// block's input, or "shortcut" 1x1 → "shortcut_bn" when the width or the stride changes), joined by "add" and
/// followed by "relu". Stage s has width channels[s] and blocks[s] blocks; the first block of every stage after the
/// first has stride 2. Convs pad by 1 and have a bias only without batch norm. Taps "stage{s}" (each stage's
/// output), "features" (the pooled head input), "logits".</summary>
internal sealed class ResNetArchitecture : IZooArchitecture
{
    private const int MinWidth = ResNetLimits.MinWidth;
    private const string MinWidthReason = ResNetLimits.MinWidthReason;

    public string Describe(ModelSpec spec) =>
        $"a resnet with channels [{string.Join(", ", spec.Channels)}] blocks [{string.Join(", ", spec.Blocks)}]" +
        (spec.InnerWidths is { } inner ? $" inner widths [{string.Join(", ", inner)}]" : "") + $" hidden [{string.Join(", ", spec.Hidden)}]";

    /// <summary>The width of block b of stage s's conv1: the stage width unless a shrink narrowed it.</summary>
    private static int InnerWidth(ModelSpec spec, int stage, int block) =>
        spec.InnerWidths is { } inner ? inner[spec.Blocks.Take(stage).Sum() + block] : spec.Channels[stage];

    public void Validate(ModelSpec spec, long[] inputShape)
    {
        if (inputShape.Length == 3 && spec.Channels.Any(c => c < MinWidth))
            throw new InvalidInputException($"resnet channels must be at least {MinWidth}, got [{string.Join(",", spec.Channels)}]: {MinWidthReason}.");
        StageChecks.Validate("resnet", spec, inputShape);
    }

    public long ParameterCount(ModelSpec spec, long[] inputShape, int numClasses)
    {
        // The count does not depend on the image size (global average pooling); a flat input counts as one channel.
        long channels = inputShape.Length == 3 ? inputShape[0] : 1;
        long perChannel = spec.BatchNorm ? 2 : 1; // a conv has a bias only without batch norm; a batch norm has a weight and a bias
        checked
        {
            long count = 0;
            long width = spec.Channels.Length > 0 ? spec.Channels[0] : 1;
            count += (channels * width * 9) + (perChannel * width);
            channels = width;
            for (int s = 0; s < spec.Channels.Length; s++)
            {
                long output = spec.Channels[s];
                int blocks = s < spec.Blocks.Length ? spec.Blocks[s] : 1;
                for (int b = 0; b < blocks; b++)
                {
                    bool stride = s > 0 && b == 0;
                    long inner = InnerWidth(spec, s, b);
                    count += (channels * inner * 9) + (perChannel * inner) + (inner * output * 9) + (perChannel * output);
                    if (stride || channels != output)
                        count += (channels * output) + (perChannel * output);
                    channels = output;
                }
            }
            return count + ClassifierHead.ParameterCount(channels, spec.Hidden, numClasses);
        }
    }

    public void Build(GraphBuilder builder, ModelSpec spec, int numClasses, CancellationToken cancel)
    {
        Nnpack.Disable();
        long channels = builder.Shape[0], height = builder.Shape[1], width = builder.Shape[2];
        bool bn = spec.BatchNorm;
        long stem = spec.Channels[0];
        ConvBnRelu(builder, "stem.conv", "stem.bn", channels, stem, stride: 1, kernel: 3, bn, relu: true, [stem, height, width]);
        channels = stem;
        for (int s = 0; s < spec.Channels.Length; s++)
        {
            long output = spec.Channels[s];
            for (int b = 0; b < spec.Blocks[s]; b++)
            {
                cancel.ThrowIfCancellationRequested();
                int stride = s > 0 && b == 0 ? 2 : 1;
                string p = $"stage{s}_block{b}";
                string blockInput = builder.Last;
                long outHeight = ((height - 1) / stride) + 1, outWidth = ((width - 1) / stride) + 1;
                long[] shape = [output, outHeight, outWidth];
                long inner = InnerWidth(spec, s, b);
                ConvBnRelu(builder, $"{p}.conv1", $"{p}.bn1", channels, inner, stride, kernel: 3, bn, relu: true, [inner, outHeight, outWidth]);
                ConvBnRelu(builder, $"{p}.conv2", $"{p}.bn2", inner, output, stride: 1, kernel: 3, bn, relu: false, shape);
                string branch = builder.Last;
                string shortcut = blockInput;
                if (stride != 1 || channels != output)
                {
                    builder.Add($"{p}.shortcut", LayerKind.Conv, nn.Conv2d(channels, output, 1, stride: stride, bias: !bn), shape, inputs: [blockInput]);
                    if (bn)
                        builder.Add($"{p}.shortcut_bn", LayerKind.BatchNorm, nn.BatchNorm2d(output), shape);
                    shortcut = builder.Last;
                }
                builder.Add($"{p}.add", LayerKind.Add, null, shape, inputs: [branch, shortcut]);
                builder.Add($"{p}.relu", LayerKind.Relu, null, shape);
                channels = output;
                height = outHeight;
                width = outWidth;
            }
            builder.Tap($"stage{s}");
        }
        builder.Add("pool", LayerKind.GlobalAvgPool, null, [channels]);
        ClassifierHead.Add(builder, spec.Hidden, numClasses, inputDropout: spec.Dropout, hiddenDropout: 0, featuresTap: ZooModel.FeaturesTap, hiddenTaps: false, cancel);
    }

    /// <summary>Stage s's width is its residual stream's, which every layer adding into it shares (block 0's conv2 is one);
    /// each block's conv1 keeps its own.</summary>
    public ModelSpec WithWidths(ModelSpec spec, IReadOnlyDictionary<string, int> kept) => spec with
    {
        Channels = spec.Channels.Select((width, s) => kept.GetValueOrDefault($"stage{s}_block0.conv2", width)).ToArray(),
        InnerWidths = spec.Blocks.SelectMany((blocks, s) => Enumerable.Range(0, blocks)
            .Select(b => kept.GetValueOrDefault($"stage{s}_block{b}.conv1", InnerWidth(spec, s, b)))).ToArray(),
        Hidden = ClassifierHead.Widths(spec.Hidden, kept),
    };

    private static void ConvBnRelu(GraphBuilder builder, string conv, string batchNorm, long input, long output, int stride, int kernel, bool bn, bool relu, long[] shape)
    {
        builder.Add(conv, LayerKind.Conv, nn.Conv2d(input, output, kernel, stride: stride, padding: kernel / 2, bias: !bn), shape);
        if (bn)
            builder.Add(batchNorm, LayerKind.BatchNorm, nn.BatchNorm2d(output), shape);
        if (relu)
            builder.Add($"{conv}.relu", LayerKind.Relu, null, shape);
    }
}
