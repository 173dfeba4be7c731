namespace Distill.Core.Models;

/// <summary>Which kind of model an architecture makes: a classifier built from a <see cref="ModelGraph"/> by
/// <see cref="ModelZoo"/>, or a language model (Text/TransformerLm).</summary>
public enum ModelFamilyKind { Classifier, LanguageModel }

/// <summary>One architecture: its <see cref="ModelArch"/>, its recipe name, what it is, and for a classifier the
/// <see cref="IZooArchitecture"/> that builds its graph (null for a language model).</summary>
public sealed record ArchitectureEntry(ModelArch Arch, string Name, string Doc, ModelFamilyKind Family) : IRegistryEntry
{
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>Its graph joins branches with residual adds: channel pruning prunes the channels an add joins together and
    /// keeps at least <see cref="ResNetLimits.MinWidth"/> per group; the Core ML lowering refuses it
    /// (<see cref="Architectures.ResidualLimits"/>).</summary>
    public bool Residual { get; init; }

    internal IZooArchitecture? Zoo { get; init; }
}

/// <summary>The architectures. To add a classifier: write its <see cref="IZooArchitecture"/> class, add a member
/// to <see cref="ModelArch"/> and a line here; the recipe schema's model.arch, the binder, checkpoints and model
/// cards read this table.</summary>
public static class Architectures
{
    public static Registry<ArchitectureEntry> Registry { get; } = new("architecture",
    [
        new(ModelArch.Mlp, "mlp", "fully connected layers", ModelFamilyKind.Classifier) { Zoo = new MlpArchitecture() },
        new(ModelArch.Cnn, "cnn", "conv blocks and a fully connected head", ModelFamilyKind.Classifier) { Zoo = new CnnArchitecture() },
        new(ModelArch.Resnet, "resnet", "a conv stem, stages of basic residual blocks, global average pooling and a fully connected head (pruning, float and int8 ONNX and TFLite; no Core ML yet)",
            ModelFamilyKind.Classifier) { Zoo = new ResNetArchitecture(), Residual = true },
        new(ModelArch.MobileNetV2, "mobilenet_v2", "a conv stem, stages of inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 linear projection, ReLU6), global average pooling and a fully connected head (pruning, float and int8 ONNX and TFLite; no Core ML yet)",
            ModelFamilyKind.Classifier) { Zoo = new MobileNetV2Architecture(), Residual = true },
        new(ModelArch.TransformerLm, "transformer-lm", "decoder-only transformer language model (data.format text)", ModelFamilyKind.LanguageModel),
    ]);

    /// <summary>What a residual architecture cannot do yet, for refusals: "a resnet {<paramref name="what"/>}: …".</summary>
    public static string ResidualLimits(ModelArch arch, string what) =>
        $"a {NameOf(arch)} {what}: the Core ML export is not built for residual models yet; export it to ONNX or TFLite (targets onnx-fp32, edge-fp16, x86-vnni, x86-avx2, arm-cortex-a)";

    /// <summary>The entry of an architecture (every member of <see cref="ModelArch"/> has one).</summary>
    public static ArchitectureEntry Of(ModelArch arch) => Registry.Entries.First(e => e.Arch == arch);

    /// <summary>The recipe name of an architecture, e.g. "cnn".</summary>
    public static string NameOf(ModelArch arch) => Of(arch).Name;

    /// <summary>The names of the architectures of one family, in listing order.</summary>
    public static IReadOnlyList<string> NamesOf(ModelFamilyKind family) =>
        [.. Registry.Entries.Where(e => e.Family == family).Select(e => e.Name)];

    /// <summary>What builds a classifier's graph.</summary>
    /// <exception cref="InvalidInputException">The architecture is not a classifier.</exception>
    internal static IZooArchitecture Zoo(ModelArch arch) => Of(arch).Zoo
        ?? throw new InvalidInputException($"{NameOf(arch)} is not a classifier architecture; choose from {string.Join(", ", NamesOf(ModelFamilyKind.Classifier))}.");
}
