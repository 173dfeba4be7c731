using Distill.Core.Distillation;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>Token-level losses for language models. Logits are [B, T, V] (or [N, V]); every position is one
/// sample, so "mean" is over B·T positions.</summary>
public static class LmLosses
{
    /// <summary>Next-token cross-entropy in nats per token: logits [B, T, V], targets [B, T] (int64).</summary>
    public static Tensor NextTokenCrossEntropy(Tensor logits, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        long vocab = logits.shape[^1];
        return nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1));
    }

    /// <summary>T² · KL(softmax(teacher/T) ‖ softmax(student/T)) summed over the vocabulary and averaged over
    /// positions (Hinton et al.; the T² keeps gradient sizes comparable across temperatures).</summary>
    public static Tensor SoftTargetKl(Tensor studentLogits, Tensor teacherLogits, double temperature)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(teacherLogits);
        if (!studentLogits.shape.SequenceEqual(teacherLogits.shape))
        {
            throw new ArgumentException(
                $"Student and teacher logits differ in shape: [{string.Join(",", studentLogits.shape)}] vs [{string.Join(",", teacherLogits.shape)}].");
        }
        long vocab = studentLogits.shape[^1];
        return KdLoss.SoftTarget(studentLogits.reshape(-1, vocab), teacherLogits.reshape(-1, vocab), temperature);
    }

    /// <summary>alpha · <see cref="SoftTargetKl"/> + (1 − alpha) · <see cref="NextTokenCrossEntropy"/>.</summary>
    public static Tensor Mixed(Tensor studentLogits, Tensor teacherLogits, Tensor targets, double alpha, double temperature)
    {
        using var scope = NewDisposeScope();
        var mixed = SoftTargetKl(studentLogits, teacherLogits, temperature).Times(alpha)
            .Plus(NextTokenCrossEntropy(studentLogits, targets).Times(1 - alpha));
        return mixed.MoveToOuterDisposeScope();
    }

    /// <summary>KL(teacher ‖ student) between head-averaged attention maps: maps are [B, heads, T, T] (head
    /// counts may differ), each row a distribution over keys; summed over keys, averaged over B·T rows.
    /// Masked (future) keys have probability 0 in both and contribute 0.</summary>
    public static Tensor AttentionMapKl(Tensor studentMap, Tensor teacherMap)
    {
        ArgumentNullException.ThrowIfNull(studentMap);
        ArgumentNullException.ThrowIfNull(teacherMap);
        if (studentMap.dim() != 4 || teacherMap.dim() != 4 || studentMap.shape[0] != teacherMap.shape[0]
            || studentMap.shape[2] != teacherMap.shape[2] || studentMap.shape[3] != teacherMap.shape[3])
        {
            throw new ArgumentException(
                $"Attention maps must be [batch, heads, T, T] with equal batch and T; got [{string.Join(",", studentMap.shape)}] and [{string.Join(",", teacherMap.shape)}].");
        }
        using var scope = NewDisposeScope();
        var student = studentMap.mean([1]);
        var teacher = teacherMap.mean([1]);
        const double floor = 1e-12;
        // p · (log p − log q) with p = 0 contributing 0: clamping only the logarithms keeps 0 · finite.
        var terms = teacher * (teacher.ClampedBelow(floor).log() - student.ClampedBelow(floor).log());
        long rows = student.shape[0] * student.shape[1];
        return terms.sum().DividedBy(rows).MoveToOuterDisposeScope();
    }
}
