using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>The width of a mobilenet_v2 stage after its width multiplier.</summary>
public static class MobileNetV2Widths
{
    /// <summary><paramref name="channels"/> × <paramref name="multiplier"/> rounded to the nearest multiple of 8 and never
    /// more than 10 % below the exact product (the paper's rule, so that channel blocks stay aligned).</summary>
    public static int Scaled(int channels, double multiplier)
    {
        double exact = channels * multiplier;
        int rounded = Math.Max(8, (int)(exact + 4) / 8 * 8);
        return rounded < 0.9 * exact ? rounded + 8 : rounded;
    }
}

/// <summary>mobilenet_v2 (Sandler et al., 2018), sized for small images: a stem "stem.conv" 3x3 → "stem.bn" → ReLU6,
/// then stages of inverted residual blocks "stage{s}_block{b}", global average pooling "pool" and the classifier head
/// (<see cref="ClassifierHead"/>) with a dropout on its input. A block widens its input t times with "expand" 1x1 →
/// "expand_bn" → ReLU6 (left out when t = 1), filters each channel with "depthwise" 3x3 → "depthwise_bn" → ReLU6, and
/// projects linearly with "project" 1x1 → "project_bn" (no activation); when the stride is 1 and the width is kept,
/// "add" joins the block's input. Stage s has <see cref="MobileNetV2Widths.Scaled"/>(channels[s]) channels and blocks[s] blocks; the
/// first block of every stage after the first has stride 2; the stem has channels[0] scaled. Convs have a bias only
/// without batch norm. Taps "stage{s}", "features", "logits".</summary>
internal sealed class MobileNetV2Architecture : IZooArchitecture
{
    public string Describe(ModelSpec spec) =>
        $"a mobilenet_v2 with channels [{string.Join(", ", spec.Channels)}] blocks [{string.Join(", ", spec.Blocks)}] expansion {spec.Expansion} " +
        (spec.ExactWidths ? "(exact widths)" : $"width_multiplier {spec.WidthMultiplier.ToString(System.Globalization.CultureInfo.InvariantCulture)}") +
        (spec.InnerWidths is { } inner ? $" inner widths [{string.Join(", ", inner)}]" : "") + $" hidden [{string.Join(", ", spec.Hidden)}]";

    /// <summary>Stage s's width as built.</summary>
    private static int StageWidth(ModelSpec spec, int stage) =>
        spec.ExactWidths ? spec.Channels[stage] : MobileNetV2Widths.Scaled(spec.Channels[stage], spec.WidthMultiplier);

    /// <summary>The expanded width of block b of stage s, whose input is <paramref name="input"/> wide: input × expansion
    /// unless a shrink narrowed it; with expansion 1 the depthwise conv filters the input itself.</summary>
    private static long InnerWidth(ModelSpec spec, int stage, int block, long input) =>
        spec.Expansion == 1 ? input : spec.InnerWidths is { } inner ? inner[spec.Blocks.Take(stage).Sum() + block] : input * spec.Expansion;

    public void Validate(ModelSpec spec, long[] inputShape)
    {
        StageChecks.Validate("mobilenet_v2", spec, inputShape);
        if (spec.Expansion < 1)
            throw new InvalidInputException($"mobilenet_v2 expansion must be at least 1, got {spec.Expansion}.");
        if (!(spec.WidthMultiplier > 0) || double.IsInfinity(spec.WidthMultiplier))
            throw new InvalidInputException($"mobilenet_v2 width_multiplier must be a positive number, got {spec.WidthMultiplier}.");
        var widths = spec.Channels.Select((_, s) => StageWidth(spec, s)).ToArray();
        if (widths.Any(w => w < ResNetLimits.MinWidth))
            throw new InvalidInputException($"mobilenet_v2 stages must be at least {ResNetLimits.MinWidth} channels wide after the width multiplier, got " +
                $"[{string.Join(",", widths)}]: {ResNetLimits.MinWidthReason}.");
    }

    public long ParameterCount(ModelSpec spec, long[] inputShape, int numClasses)
    {
        long channels = inputShape.Length == 3 ? inputShape[0] : 1;
        long perChannel = spec.BatchNorm ? 2 : 1; // a conv's bias without batch norm, or a batch norm's weight and bias
        checked
        {
            long stem = spec.Channels.Length > 0 ? StageWidth(spec, 0) : 1;
            long count = (channels * stem * 9) + (perChannel * stem);
            channels = stem;
            for (int s = 0; s < spec.Channels.Length; s++)
            {
                long output = StageWidth(spec, s);
                int blocks = s < spec.Blocks.Length ? spec.Blocks[s] : 1;
                for (int b = 0; b < blocks; b++)
                {
                    long hidden = InnerWidth(spec, s, b, channels);
                    if (spec.Expansion != 1)
                        count += (channels * hidden) + (perChannel * hidden);
                    count += (hidden * 9) + (perChannel * hidden);
                    count += (hidden * output) + (perChannel * output);
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
        long stem = StageWidth(spec, 0);
        Conv(builder, "stem.conv", "stem.bn", LayerKind.Conv, nn.Conv2d(channels, stem, 3, padding: 1, bias: !bn), stem, bn, relu6: true, [stem, height, width]);
        channels = stem;
        for (int s = 0; s < spec.Channels.Length; s++)
        {
            long output = StageWidth(spec, s);
            for (int b = 0; b < spec.Blocks[s]; b++)
            {
                cancel.ThrowIfCancellationRequested();
                int stride = s > 0 && b == 0 ? 2 : 1;
                string p = $"stage{s}_block{b}";
                string blockInput = builder.Last;
                long hidden = InnerWidth(spec, s, b, channels);
                if (spec.Expansion != 1)
                    Conv(builder, $"{p}.expand", $"{p}.expand_bn", LayerKind.Conv, nn.Conv2d(channels, hidden, 1, bias: !bn), hidden, bn, relu6: true, [hidden, height, width]);
                long outHeight = ((height - 1) / stride) + 1, outWidth = ((width - 1) / stride) + 1;
                Conv(builder, $"{p}.depthwise", $"{p}.depthwise_bn", LayerKind.Depthwise,
                    nn.Conv2d(hidden, hidden, 3, stride: stride, padding: 1, groups: hidden, bias: !bn), hidden, bn, relu6: true, [hidden, outHeight, outWidth]);
                long[] shape = [output, outHeight, outWidth];
                Conv(builder, $"{p}.project", $"{p}.project_bn", LayerKind.Conv, nn.Conv2d(hidden, output, 1, bias: !bn), output, bn, relu6: false, shape);
                if (stride == 1 && channels == output)
                    builder.Add($"{p}.add", LayerKind.Add, null, shape, inputs: [builder.Last, blockInput]);
                channels = output;
                height = outHeight;
                width = outWidth;
            }
            builder.Tap($"stage{s}");
        }
        builder.Add("pool", LayerKind.GlobalAvgPool, null, [channels]);
        ClassifierHead.Add(builder, spec.Hidden, numClasses, inputDropout: spec.Dropout, hiddenDropout: 0, featuresTap: ZooModel.FeaturesTap, hiddenTaps: false, cancel);
    }

    /// <summary>Stage s's width is its residual stream's, which every projection adding into it shares (block 0's is one;
    /// in stage 0 the stem too); each block's expand layer keeps its own. The widths become exact (the multiplier 1, as
    /// a recipe with exact_widths builds it): a multiplier would round them again.</summary>
    public ModelSpec WithWidths(ModelSpec spec, IReadOnlyDictionary<string, int> kept)
    {
        var widths = spec.Channels.Select((_, s) => kept.GetValueOrDefault($"stage{s}_block0.project", StageWidth(spec, s))).ToArray();
        int[]? inner = null;
        if (spec.Expansion != 1)
        {
            var list = new List<int>();
            long input = StageWidth(spec, 0);
            for (int s = 0; s < spec.Channels.Length; s++)
            {
                for (int b = 0; b < spec.Blocks[s]; b++)
                {
                    list.Add(kept.GetValueOrDefault($"stage{s}_block{b}.expand", checked((int)InnerWidth(spec, s, b, input))));
                    input = StageWidth(spec, s);
                }
            }
            inner = [.. list];
        }
        return spec with { Channels = widths, ExactWidths = true, WidthMultiplier = 1.0, InnerWidths = inner, Hidden = ClassifierHead.Widths(spec.Hidden, kept) };
    }

    private static void Conv(GraphBuilder builder, string conv, string batchNorm, LayerKind kind, nn.Module<Tensor, Tensor> module, long output, bool bn, bool relu6, long[] shape)
    {
        builder.Add(conv, kind, module, shape);
        if (bn)
            builder.Add(batchNorm, LayerKind.BatchNorm, nn.BatchNorm2d(output), shape);
        if (relu6)
            builder.Add($"{conv}.relu6", LayerKind.Relu6, null, shape);
    }
}
