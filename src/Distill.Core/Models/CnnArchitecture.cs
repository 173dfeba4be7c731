using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>cnn: conv blocks "block0".."block{n-1}", then the classifier head (<see cref="ClassifierHead"/>) with a
/// dropout on its input. A plain block is conv → bn → relu → [pool]; a depthwise-separable one is depthwise 3x3 →
/// depthwise_bn → relu → conv (pointwise 1x1) → bn → relu → [pool]. Convs pad by k/2 and have a bias only without
/// batch norm; pools are 2x2 with stride 2. Taps "block{i}" (each block's output), "features" (the flattened head
/// input), "logits".</summary>
internal sealed class CnnArchitecture : IZooArchitecture
{
    public string Describe(ModelSpec spec) => $"a cnn with channels [{string.Join(", ", spec.Channels)}] hidden [{string.Join(", ", spec.Hidden)}]";

    public long ParameterCount(ModelSpec spec, long[] inputShape, int numClasses)
    {
        if (inputShape.Length != 3)
            return new MlpArchitecture().ParameterCount(spec, inputShape, numClasses);
        long channels = inputShape[0], height = inputShape[1], side = inputShape[2], k = spec.KernelSize, count = 0;
        checked
        {
            for (int i = 0; i < spec.Channels.Length; i++)
            {
                long output = spec.Channels[i];
                // A conv has a bias only without batch norm; a batch norm has a weight and a bias.
                long perChannel = spec.BatchNorm ? 2 : 1;
                bool depthwise = spec.Depthwise?[i] ?? false;
                bool pool = spec.Pool?[i] ?? true;
                count += depthwise
                    ? (channels * k * k) + (perChannel * channels) + (channels * output) + (perChannel * output)
                    : (channels * output * k * k) + (perChannel * output);
                // A block whose output would be smaller than 1x1 counts as 1x1 (Build refuses it anyway).
                height = Math.Max(1, OutputSize(height, spec.KernelSize, pool));
                side = Math.Max(1, OutputSize(side, spec.KernelSize, pool));
                channels = output;
            }
            return count + ClassifierHead.ParameterCount(channels * height * side, spec.Hidden, numClasses);
        }
    }

    public void Build(GraphBuilder builder, ModelSpec spec, int numClasses, CancellationToken cancel)
    {
        var inputShape = builder.Shape;
        Nnpack.Disable();
        long channels = inputShape[0], height = inputShape[1], width = inputShape[2];
        int k = spec.KernelSize;
        long padding = k / 2;
        bool bn = spec.BatchNorm;
        for (int i = 0; i < spec.Channels.Length; i++)
        {
            cancel.ThrowIfCancellationRequested();
            bool depthwise = spec.Depthwise?[i] ?? false;
            bool pool = spec.Pool?[i] ?? true;
            if (depthwise && channels == 1)
                throw new InvalidInputException($"cnn block {i} cannot be depthwise-separable: its input has a single channel.");
            long outHeight = OutputSize(height, k, pool), outWidth = OutputSize(width, k, pool);
            if (outHeight < 1 || outWidth < 1)
                throw new InvalidInputException(
                    $"cnn block {i} gets a {height}x{width} input, too small for kernel {k}{(pool ? " and a 2x2 pool" : "")}; use fewer pooling blocks or a smaller kernel.");
            long outChannels = spec.Channels[i];
            long convHeight = OutputSize(height, k, pool: false), convWidth = OutputSize(width, k, pool: false);
            string p = $"block{i}";
            if (depthwise)
            {
                long[] shape = [channels, convHeight, convWidth];
                builder.Add($"{p}.depthwise", LayerKind.Depthwise, nn.Conv2d(channels, channels, k, padding: padding, groups: channels, bias: !bn), shape);
                if (bn)
                    builder.Add($"{p}.depthwise_bn", LayerKind.BatchNorm, nn.BatchNorm2d(channels), shape);
                builder.Add($"{p}.depthwise.relu", LayerKind.Relu, null, shape);
                builder.Add($"{p}.conv", LayerKind.Conv, nn.Conv2d(channels, outChannels, 1, bias: !bn), [outChannels, convHeight, convWidth]);
            }
            else
            {
                builder.Add($"{p}.conv", LayerKind.Conv, nn.Conv2d(channels, outChannels, k, padding: padding, bias: !bn), [outChannels, convHeight, convWidth]);
            }
            if (bn)
                builder.Add($"{p}.bn", LayerKind.BatchNorm, nn.BatchNorm2d(outChannels), [outChannels, convHeight, convWidth]);
            builder.Add($"{p}.conv.relu", LayerKind.Relu, null, [outChannels, convHeight, convWidth]);
            if (pool)
                builder.Add($"{p}.pool", LayerKind.MaxPool, nn.MaxPool2d(2), [outChannels, outHeight, outWidth]);
            builder.Tap(p);
            channels = outChannels;
            height = outHeight;
            width = outWidth;
        }
        ClassifierHead.Add(builder, spec.Hidden, numClasses, inputDropout: spec.Dropout, hiddenDropout: 0, featuresTap: ZooModel.FeaturesTap, hiddenTaps: false, cancel);
    }

    public ModelSpec WithWidths(ModelSpec spec, IReadOnlyDictionary<string, int> kept) => spec with
    {
        Channels = spec.Channels.Select((width, i) => kept.GetValueOrDefault($"block{i}.conv", width)).ToArray(),
        Hidden = ClassifierHead.Widths(spec.Hidden, kept),
    };

    /// <summary>Spatial size after a block for an input of size <paramref name="inputSize"/>.</summary>
    private static long OutputSize(long inputSize, int kernelSize, bool pool)
    {
        long convOut = inputSize + 2 * (kernelSize / 2) - kernelSize + 1;
        return pool ? convOut / 2 : convOut;
    }

    public void Validate(ModelSpec spec, long[] inputShape)
    {
        if (inputShape.Length != 3)
            throw new InvalidInputException(
                $"A cnn needs image input [C,H,W], got [{string.Join(",", inputShape)}]; set the data's image shape or use an mlp.");
        int n = spec.Channels.Length;
        if (n == 0)
            throw new InvalidInputException("A cnn needs at least one conv block (channels is empty).");
        if (spec.Channels.Any(c => c <= 0))
            throw new InvalidInputException($"cnn channels must be positive, got [{string.Join(",", spec.Channels)}].");
        if (spec.KernelSize < 1)
            throw new InvalidInputException($"cnn kernel size must be at least 1, got {spec.KernelSize}.");
        if (spec.Depthwise is not null && spec.Depthwise.Length != n)
            throw new InvalidInputException($"cnn depthwise has {spec.Depthwise.Length} entries but channels has {n}.");
        if (spec.Pool is not null && spec.Pool.Length != n)
            throw new InvalidInputException($"cnn pool has {spec.Pool.Length} entries but channels has {n}.");
    }
}
