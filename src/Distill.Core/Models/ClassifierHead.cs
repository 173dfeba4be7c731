using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>The classifier head of the zoo models: flatten "head.flatten" → [dropout "head.dropout_in"] →
/// (Linear "head.fc{i}" → ReLU → [dropout "head.dropout{i}"]) per hidden width → Linear "head.out".
/// The cnn uses the input dropout, the mlp a dropout after each hidden layer.</summary>
internal static class ClassifierHead
{
    /// <summary>Adds the head's nodes after <paramref name="builder"/>'s last node.</summary>
    /// <param name="hiddenTaps">Tap each hidden layer's output (after its ReLU) as "hidden{i}".</param>
    public static void Add(GraphBuilder builder, IReadOnlyList<int> hidden, int numClasses, double inputDropout, double hiddenDropout,
        string? featuresTap, bool hiddenTaps, CancellationToken cancel)
    {
        long width = builder.Shape.Aggregate(1L, (a, b) => a * b);
        builder.Add("head.flatten", LayerKind.Flatten, null, [width], featuresTap);
        if (inputDropout > 0)
            builder.Add("head.dropout_in", LayerKind.Dropout, nn.Dropout(inputDropout), [width]);
        for (int i = 0; i < hidden.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            builder.Add($"head.fc{i}", LayerKind.Linear, nn.Linear(width, hidden[i]), [hidden[i]]);
            builder.Add($"head.fc{i}.relu", LayerKind.Relu, null, [hidden[i]], hiddenTaps ? $"hidden{i}" : null);
            if (hiddenDropout > 0)
                builder.Add($"head.dropout{i}", LayerKind.Dropout, nn.Dropout(hiddenDropout), [hidden[i]]);
            width = hidden[i];
        }
        builder.Add("head.out", LayerKind.Linear, nn.Linear(width, numClasses), [numClasses], ZooModel.LogitsTap);
    }

    /// <summary>Parameters of the head on <paramref name="width"/> input features (weights and biases).</summary>
    public static long ParameterCount(long width, IEnumerable<int> hidden, int numClasses)
    {
        long count = 0;
        foreach (long units in hidden.Append(numClasses))
        {
            count = checked(count + (width + 1) * units);
            width = units;
        }
        return count;
    }

    /// <summary>The hidden widths after pruning: head.fc{i} keeps <paramref name="kept"/>[name] units.</summary>
    public static int[] Widths(IReadOnlyList<int> hidden, IReadOnlyDictionary<string, int> kept) =>
        hidden.Select((width, i) => kept.GetValueOrDefault($"head.fc{i}", width)).ToArray();
}
