using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

public static class KdLoss
{
    /// <summary>Hinton soft-target loss: T² · KL(softmax(teacher/T) ‖ softmax(student/T)), summed over
    /// classes and averaged over the batch. Its gradient w.r.t. the student logits is
    /// T · (softmax(s/T) − softmax(t/T)) / B. The teacher logits are used as given (detach them if they
    /// carry a graph you do not want to train).</summary>
    public static Tensor SoftTarget(Tensor studentLogits, Tensor teacherLogits, double temperature)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(teacherLogits);
        if (studentLogits.dim() != 2 || !studentLogits.shape.SequenceEqual(teacherLogits.shape))
        {
            throw new ArgumentException(
                $"Student and teacher logits must both be [batch, classes]; got [{string.Join(",", studentLogits.shape)}] and [{string.Join(",", teacherLogits.shape)}].");
        }
        if (!(temperature > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive.");
        }
        using var scope = NewDisposeScope();
        var studentLogProbs = nn.functional.log_softmax(studentLogits.DividedBy(temperature), 1);
        var teacherLogProbs = nn.functional.log_softmax(teacherLogits.DividedBy(temperature), 1);
        // TorchSharp's kl_div defaults to log_target: true and has no "batchmean": be explicit on both.
        var klSum = nn.functional.kl_div(studentLogProbs, teacherLogProbs, reduction: nn.Reduction.Sum, log_target: true);
        long batch = studentLogits.shape[0];
        return klSum.Times(temperature * temperature / batch).MoveToOuterDisposeScope();
    }
}
