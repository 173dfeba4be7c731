namespace Distill.Core.Models;

/// <summary>One zoo architecture: how a <see cref="ModelSpec"/> becomes a <see cref="ModelGraph"/>. Everything
/// else (training, quantisation, pruning, shrinking, the lowerings) reads the graph.</summary>
/// <remarks>To add an architecture: one class implementing this interface (see <see cref="CnnArchitecture"/>), a
/// member of <see cref="ModelArch"/> and its line in <see cref="Architectures"/>. Node kinds no existing architecture uses (e.g. <see cref="LayerKind.Add"/>)
/// also need their step in each lowering (ZooGraphPlan and the ONNX lowerings, TfliteLowering) and in ChannelGroups.</remarks>
internal interface IZooArchitecture
{
    /// <summary>The model in words for messages: "a cnn with channels [8, 16] hidden [32]".</summary>
    string Describe(ModelSpec spec);

    /// <summary>Throws <see cref="InvalidInputException"/> when the spec does not fit the input (before any size check).</summary>
    void Validate(ModelSpec spec, long[] inputShape);

    /// <summary>Trainable parameters of the model <see cref="Build"/> makes, from the sizes alone (nothing is
    /// allocated). Checked arithmetic: an overflow throws.</summary>
    long ParameterCount(ModelSpec spec, long[] inputShape, int numClasses);

    /// <summary>Checks the spec against the input and adds the nodes, creating their modules in the order their
    /// parameters are initialised and registered.</summary>
    void Build(GraphBuilder builder, ModelSpec spec, int numClasses, CancellationToken cancel);

    /// <summary>The spec of the same model with fewer output units in its prunable layers: <paramref name="kept"/>
    /// gives the units kept by layer name (a layer not named keeps its width).</summary>
    ModelSpec WithWidths(ModelSpec spec, IReadOnlyDictionary<string, int> kept);
}
