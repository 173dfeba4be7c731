using Distill.Core.Data;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>Test figures of any <see cref="ITeacher"/> (an ONNX file, an ensemble, a member of one), measured on its logits.</summary>
public static class TeacherEvaluation
{
    /// <summary>Top-1 accuracy and mean cross-entropy of the teacher's logits over <paramref name="data"/>, under no_grad.</summary>
    /// <param name="device">Where the batches are fed (the teacher's device); null: where the data is (the CPU).</param>
    /// <param name="cancel">Checked before every batch of <see cref="Evaluator.BatchSize"/> samples.</param>
    public static Evaluation Evaluate(ITeacher teacher, TensorDataset data, Device? device = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0)
        {
            return new Evaluation(0, 0, 0);
        }
        double loss = 0;
        long correct = 0;
        using var noGrad = no_grad();
        foreach (var indices in BatchSampler.Batches(data.Count, Evaluator.BatchSize, shuffle: false, seed: 0))
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var (x, y) = data.Batch(indices, device);
            var (logits, _) = teacher.ForwardWithTaps(x, []);
            loss += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(y).sum().item<long>();
        }
        return new Evaluation((double)correct / data.Count, loss / data.Count, data.Count);
    }
}
