namespace Distill.Core.Models;

/// <summary>mlp: the input flattened, then the classifier head (<see cref="ClassifierHead"/>) with a dropout after
/// each hidden layer. Taps "hidden{i}" (after each hidden ReLU) and "logits".</summary>
internal sealed class MlpArchitecture : IZooArchitecture
{
    public string Describe(ModelSpec spec) => $"an mlp with hidden [{string.Join(", ", spec.Hidden)}]";

    public void Validate(ModelSpec spec, long[] inputShape)
    {
    }

    public long ParameterCount(ModelSpec spec, long[] inputShape, int numClasses) =>
        ClassifierHead.ParameterCount(inputShape.Aggregate(1L, (a, b) => checked(a * b)), spec.Hidden, numClasses);

    public void Build(GraphBuilder builder, ModelSpec spec, int numClasses, CancellationToken cancel) =>
        ClassifierHead.Add(builder, spec.Hidden, numClasses, inputDropout: 0, hiddenDropout: spec.Dropout, featuresTap: null, hiddenTaps: true, cancel);

    public ModelSpec WithWidths(ModelSpec spec, IReadOnlyDictionary<string, int> kept) =>
        spec with { Hidden = ClassifierHead.Widths(spec.Hidden, kept) };
}
