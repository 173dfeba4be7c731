namespace Distill.Core.Models;

/// <summary>What every architecture made of stages of residual blocks (resnet, mobilenet_v2) needs of its spec: image
/// input, at least one stage, and one block count of at least 1 per stage.</summary>
internal static class StageChecks
{
    /// <param name="arch">The architecture's recipe name, for the messages.</param>
    public static void Validate(string arch, ModelSpec spec, long[] inputShape)
    {
        if (inputShape.Length != 3)
            throw new InvalidInputException(
                $"A {arch} needs image input [C,H,W], got [{string.Join(",", inputShape)}]; set the data's image shape or use an mlp.");
        if (spec.Channels.Length == 0)
            throw new InvalidInputException($"A {arch} needs at least one stage (channels is empty).");
        if (spec.Blocks.Length != spec.Channels.Length)
            throw new InvalidInputException($"{arch} blocks has {spec.Blocks.Length} entries but channels has {spec.Channels.Length}; give one per stage.");
        if (spec.Blocks.Any(b => b < 1))
            throw new InvalidInputException($"{arch} blocks must be at least 1 per stage, got [{string.Join(",", spec.Blocks)}].");
        if (spec.InnerWidths is { } inner && inner.Length != spec.Blocks.Sum())
            throw new InvalidInputException($"{arch} inner widths has {inner.Length} entries for {spec.Blocks.Sum()} blocks; give one per block.");
        if (spec.InnerWidths is { } widths && widths.Any(w => w < ResNetLimits.MinWidth))
            throw new InvalidInputException($"{arch} inner widths must be at least {ResNetLimits.MinWidth}, got [{string.Join(",", widths)}]: {ResNetLimits.MinWidthReason}.");
    }
}
