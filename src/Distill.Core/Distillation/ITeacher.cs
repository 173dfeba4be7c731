using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>What distillation needs from a teacher: logits and named intermediate outputs ("taps") of a batch of
/// student inputs. A zoo model (<see cref="Models.ZooModel"/>) is one; an ONNX file run in ONNX Runtime
/// (<see cref="OnnxTeacher"/>) is another.</summary>
public interface ITeacher
{
    /// <summary>Taps the teacher can produce.</summary>
    IReadOnlyList<string> TapNames { get; }

    /// <summary>Per-sample shape of a tap; throws <see cref="InvalidInputException"/> for an unknown tap.</summary>
    long[] TapShape(string tap);

    /// <summary>Logits [N, classes] plus the requested taps of a batch laid out as the student takes it.
    /// Callers put a zoo teacher in eval mode and under no_grad first. Tensors belong to the caller's dispose scope.</summary>
    (Tensor Logits, IReadOnlyDictionary<string, Tensor> Taps) ForwardWithTaps(Tensor x, IReadOnlyCollection<string> taps);

    /// <summary>Names the teacher in error messages, e.g. "cnn" or "ONNX model '/path/teacher.onnx'".</summary>
    string Description { get; }
}
