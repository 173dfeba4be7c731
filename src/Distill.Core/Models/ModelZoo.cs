namespace Distill.Core.Models;

/// <summary>Builds zoo models from a <see cref="ModelSpec"/>. Initialisation follows TorchSharp's
/// defaults, so it is deterministic under torch.manual_seed.</summary>
public static class ModelZoo
{
    /// <param name="cancel">Checked between layers: a large model takes seconds to initialise.</param>
    public static ZooModel Build(ModelSpec spec, long[] inputShape, int numClasses, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
        {
            throw new InvalidInputException($"Model input shape [{string.Join(",", inputShape)}] must have at least one dimension, all positive.");
        }
        if (numClasses < 2)
        {
            throw new InvalidInputException($"A classifier needs at least 2 classes, got {numClasses}.");
        }
        if (spec.Hidden.Any(w => w <= 0))
        {
            throw new InvalidInputException($"Model hidden widths must be positive, got [{string.Join(",", spec.Hidden)}].");
        }
        if (spec.Dropout < 0 || spec.Dropout >= 1)
        {
            throw new InvalidInputException($"Model dropout must be in [0, 1), got {spec.Dropout}.");
        }
        return spec.Arch switch
        {
            ModelArch.Cnn => BuildCnn(spec, inputShape, numClasses, cancel),
            ModelArch.Mlp => BuildMlp(spec, inputShape, numClasses, cancel),
            _ => throw new InvalidInputException($"Unknown model architecture {spec.Arch}."),
        };
    }

    /// <summary>Trainable parameters of the model <see cref="Build"/> makes, computed from the sizes alone (nothing
    /// is allocated). A cnn block whose output would be smaller than 1x1 counts as 1x1 (Build refuses such a
    /// model anyway), so an input of [1, 1, 1] and 2 classes give a lower bound for any data. Saturates at
    /// <see cref="long.MaxValue"/>.</summary>
    public static long ParameterCount(ModelSpec spec, long[] inputShape, int numClasses)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(inputShape);
        try
        {
            checked
            {
                long width, count = 0;
                if (spec.Arch == ModelArch.Cnn && inputShape.Length == 3)
                {
                    long channels = inputShape[0], height = inputShape[1], side = inputShape[2], k = spec.KernelSize;
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
                        height = Math.Max(1, ConvBlock.OutputSize(height, spec.KernelSize, pool));
                        side = Math.Max(1, ConvBlock.OutputSize(side, spec.KernelSize, pool));
                        channels = output;
                    }
                    width = channels * height * side;
                }
                else
                {
                    width = inputShape.Aggregate(1L, (a, b) => a * b);
                }
                foreach (long hidden in spec.Hidden.Append(numClasses))
                {
                    count += (width + 1) * hidden;
                    width = hidden;
                }
                return count;
            }
        }
        catch (OverflowException)
        {
            return long.MaxValue;
        }
    }

    private static void CheckSize(ModelSpec spec, long[] inputShape, int numClasses)
    {
        string layers = spec.Arch == ModelArch.Cnn ? $"channels [{string.Join(", ", spec.Channels)}] hidden" : "hidden";
        ModelLimits.Check(ParameterCount(spec, inputShape, numClasses),
            $"{(spec.Arch == ModelArch.Mlp ? "an" : "a")} {spec.Arch.ToString().ToLowerInvariant()} with {layers} [{string.Join(", ", spec.Hidden)}] on input [{string.Join(", ", inputShape)}] with {numClasses} classes");
    }

    private static ZooModel BuildMlp(ModelSpec spec, long[] inputShape, int numClasses, CancellationToken cancel)
    {
        CheckSize(spec, inputShape, numClasses);
        long inFeatures = inputShape.Aggregate(1L, (a, b) => a * b);
        var head = new ClassifierHead("head", inFeatures, spec.Hidden, numClasses, inputDropout: 0, hiddenDropout: spec.Dropout, cancel);
        var taps = new List<(string, long[])>();
        for (int i = 0; i < spec.Hidden.Length; i++)
        {
            taps.Add(($"hidden{i}", [spec.Hidden[i]]));
        }
        taps.Add((ZooModel.LogitsTap, [numClasses]));
        return new ZooModel(spec, inputShape, numClasses, [], head, taps);
    }

    private static ZooModel BuildCnn(ModelSpec spec, long[] inputShape, int numClasses, CancellationToken cancel)
    {
        if (inputShape.Length != 3)
        {
            throw new InvalidInputException(
                $"A cnn needs image input [C,H,W], got [{string.Join(",", inputShape)}]; set the data's image shape or use an mlp.");
        }
        int n = spec.Channels.Length;
        if (n == 0)
        {
            throw new InvalidInputException("A cnn needs at least one conv block (channels is empty).");
        }
        if (spec.Channels.Any(c => c <= 0))
        {
            throw new InvalidInputException($"cnn channels must be positive, got [{string.Join(",", spec.Channels)}].");
        }
        if (spec.KernelSize < 1)
        {
            throw new InvalidInputException($"cnn kernel size must be at least 1, got {spec.KernelSize}.");
        }
        if (spec.Depthwise is not null && spec.Depthwise.Length != n)
        {
            throw new InvalidInputException($"cnn depthwise has {spec.Depthwise.Length} entries but channels has {n}.");
        }
        if (spec.Pool is not null && spec.Pool.Length != n)
        {
            throw new InvalidInputException($"cnn pool has {spec.Pool.Length} entries but channels has {n}.");
        }
        CheckSize(spec, inputShape, numClasses);

        var blocks = new List<ConvBlock>();
        var taps = new List<(string, long[])>();
        long channels = inputShape[0], height = inputShape[1], width = inputShape[2];
        try
        {
            for (int i = 0; i < n; i++)
            {
                cancel.ThrowIfCancellationRequested();
                bool depthwise = spec.Depthwise?[i] ?? false;
                bool pool = spec.Pool?[i] ?? true;
                if (depthwise && channels == 1)
                {
                    throw new InvalidInputException($"cnn block {i} cannot be depthwise-separable: its input has a single channel.");
                }
                long outHeight = ConvBlock.OutputSize(height, spec.KernelSize, pool);
                long outWidth = ConvBlock.OutputSize(width, spec.KernelSize, pool);
                if (outHeight < 1 || outWidth < 1)
                {
                    throw new InvalidInputException(
                        $"cnn block {i} gets a {height}x{width} input, too small for kernel {spec.KernelSize}{(pool ? " and a 2x2 pool" : "")}; use fewer pooling blocks or a smaller kernel.");
                }
                blocks.Add(new ConvBlock($"block{i}", channels, spec.Channels[i], spec.KernelSize, depthwise, spec.BatchNorm, pool));
                channels = spec.Channels[i];
                height = outHeight;
                width = outWidth;
                taps.Add(($"block{i}", [channels, height, width]));
            }
        }
        catch
        {
            foreach (var block in blocks)
            {
                block.Dispose();
            }
            throw;
        }

        long features = channels * height * width;
        taps.Add((ZooModel.FeaturesTap, [features]));
        taps.Add((ZooModel.LogitsTap, [numClasses]));
        ClassifierHead head;
        try
        {
            head = new ClassifierHead("head", features, spec.Hidden, numClasses, inputDropout: spec.Dropout, hiddenDropout: 0, cancel);
        }
        catch
        {
            foreach (var block in blocks)
            {
                block.Dispose();
            }
            throw;
        }
        return new ZooModel(spec, inputShape, numClasses, blocks, head, taps);
    }
}
