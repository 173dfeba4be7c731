using Distill.Core.Text;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>What a loss term reads besides the student's logits and the targets.</summary>
[Flags]
public enum LossNeeds
{
    None = 0,

    /// <summary>The teacher's logits (or, for a language model, its cached top-k logits).</summary>
    Teacher = 1,

    /// <summary>The teacher run at every step: a language model's top-k cache does not serve the term.</summary>
    LiveTeacher = 2,

    /// <summary>A live teacher's taps or attention maps: not an ONNX language model (logits only).</summary>
    TeacherInternals = 4,

    /// <summary>The student's taps or attention maps: not a fake-quant student, whose forward has none.</summary>
    StudentInternals = 8,
}

/// <summary>One model's outputs for a batch, as every loss term reads them: logits ([B, C] for a classifier,
/// [B, T, V] for a language model), named intermediate outputs (a classifier's taps, a language model's hidden
/// states "embed", "block{i}", "final") and attention maps by block ([B, heads, T, T]; empty for classifiers).</summary>
public sealed record ModelOutputs(Tensor Logits, IReadOnlyDictionary<string, Tensor> Taps, IReadOnlyDictionary<string, Tensor> Attention)
{
    private static readonly IReadOnlyDictionary<string, Tensor> None = new Dictionary<string, Tensor>();

    /// <summary>A classifier's logits and taps.</summary>
    public ModelOutputs(Tensor logits, IReadOnlyDictionary<string, Tensor>? taps = null)
        : this(logits, taps ?? None, None)
    {
    }

    /// <summary>A language model's logits, hidden states and attention maps.</summary>
    public static ModelOutputs Of(LmOutput output)
    {
        ArgumentNullException.ThrowIfNull(output);
        return new ModelOutputs(output.Logits, output.Hidden, output.Attention);
    }
}

/// <summary>What one batch's loss is computed from: the student's outputs, the teacher's (null without a live teacher),
/// the targets (class labels [B] or next tokens [B, T]) and, for a language model distilled from a top-k cache, the
/// cached teacher targets of the batch.</summary>
public sealed record LossInputs(ModelOutputs Student, ModelOutputs? Teacher, Tensor Targets, TopKTargets? Cached = null);

/// <summary>
/// One term of a <see cref="DistillationLoss"/>, built for a student and a teacher by its <see cref="LossTermEntry"/>.
/// The loss folds its terms in the order of <see cref="Losses.Registry"/>: total = <see cref="Join"/>(total, value),
/// starting from nothing, so the floating-point order of the sum is fixed. A term computes its value from a batch,
/// names the taps and attention maps it reads, and holds its learned adapters (if any), which the loss registers
/// under the names given here (checkpoints store them by those names).
/// </summary>
public interface ILossTerm
{
    /// <summary>Taps (hidden states) the student's forward must return.</summary>
    IReadOnlyCollection<string> StudentTaps => [];

    /// <summary>Taps (hidden states) the teacher's forward must return.</summary>
    IReadOnlyCollection<string> TeacherTaps => [];

    /// <summary>Whether both models must return attention maps.</summary>
    bool NeedsAttention => false;

    /// <summary>Learned modules trained with the student, by the name they are registered (and checkpointed) under.</summary>
    IReadOnlyList<KeyValuePair<string, nn.Module<Tensor, Tensor>>> Adapters => [];

    /// <summary>The term's value for a batch (a scalar in the caller's dispose scope). Teacher tensors are detached.</summary>
    Tensor Compute(LossInputs inputs);

    /// <summary>How the value enters the total of the terms before it (null for the first term). Most terms add their
    /// (weighted) value.</summary>
    Tensor Join(Tensor? total, Tensor value) => total is null ? value : total.Plus(value);
}
