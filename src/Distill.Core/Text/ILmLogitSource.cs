using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>A language model seen from outside, forward only: its logits for a batch of token windows. What KD, the
/// top-k cache and evaluation need from a model. A <see cref="TransformerLm"/> is one; an ONNX file run in ONNX
/// Runtime (<see cref="OnnxLmTeacher"/>) is another.</summary>
public interface ILmLogitSource
{
    int VocabSize { get; }

    /// <summary>Logits [B, S, VocabSize] float32 for token ids [B, S] int64, computed in eval mode without gradient.
    /// The result belongs to the caller's dispose scope.</summary>
    Tensor Logits(Tensor tokens);
}
