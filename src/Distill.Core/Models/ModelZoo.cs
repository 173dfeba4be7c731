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
        var architecture = Architectures.Zoo(spec.Arch);
        architecture.Validate(spec, inputShape);
        ModelLimits.Check(ParameterCount(spec, inputShape, numClasses),
            $"{architecture.Describe(spec)} on input [{string.Join(", ", inputShape)}] with {numClasses} classes");
        var builder = new GraphBuilder((long[])inputShape.Clone());
        try
        {
            architecture.Build(builder, spec, numClasses, cancel);
            var (graph, groups) = builder.Build();
            return new ZooModel(Architectures.NameOf(spec.Arch), spec, numClasses, graph, groups);
        }
        catch
        {
            builder.DisposeModules();
            throw;
        }
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
            // A spec of no classifier architecture counts as an mlp: recipes size-check specs before they are complete.
            var architecture = Architectures.Of(spec.Arch).Zoo ?? Architectures.Zoo(ModelArch.Mlp);
            return architecture.ParameterCount(spec, inputShape, numClasses);
        }
        catch (OverflowException)
        {
            return long.MaxValue;
        }
    }

    /// <summary>The spec of <paramref name="spec"/>'s model with fewer output units in its prunable layers
    /// (<paramref name="kept"/>: units kept by layer name, e.g. "block1.conv", "head.fc0").</summary>
    public static ModelSpec WithWidths(ModelSpec spec, IReadOnlyDictionary<string, int> kept)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Architectures.Zoo(spec.Arch).WithWidths(spec, kept);
    }
}
