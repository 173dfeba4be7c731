using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>A language model as <see cref="TextGenerator"/> sees it: the logits of the token after a window of at
/// most <see cref="Context"/> tokens. Implemented by TorchSharp (<see cref="TorchNextTokenModel"/>) and by an ONNX
/// file in ONNX Runtime (Export.Onnx.OnnxLmRunner).</summary>
public interface INextTokenModel
{
    int Context { get; }

    int VocabSize { get; }

    /// <summary>Logits [VocabSize] of the token that follows <paramref name="window"/> (1 ≤ length ≤ Context).</summary>
    float[] NextTokenLogits(IReadOnlyList<int> window);

    /// <summary>In one forward pass, the logits of the token after each of the last <paramref name="count"/> prefixes
    /// of <paramref name="window"/> (1 ≤ count ≤ length ≤ Context), shortest prefix first.</summary>
    float[][] PositionLogits(IReadOnlyList<int> window, int count);
}

/// <summary>A <see cref="TransformerLm"/> run in eval mode under no_grad, one window at a time (its mode is restored
/// after each call).</summary>
public sealed class TorchNextTokenModel(TransformerLm model) : INextTokenModel
{
    public int Context => model.Options.Context;

    public int VocabSize => model.Options.VocabSize;

    public float[] NextTokenLogits(IReadOnlyList<int> window) => PositionLogits(window, 1)[0];

    public float[][] PositionLogits(IReadOnlyList<int> window, int count)
    {
        ArgumentNullException.ThrowIfNull(window);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, window.Count);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var input = tensor(window.Select(t => (long)t).ToArray(), [1, window.Count]);
            var logits = model.forward(input)[0].to_type(ScalarType.Float32);
            return [.. Enumerable.Range(window.Count - count, count).Select(position => logits[position].data<float>().ToArray())];
        }
        finally
        {
            if (wasTraining)
            {
                model.train();
            }
        }
    }
}
