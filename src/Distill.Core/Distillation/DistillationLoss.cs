using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>The loss of a stage: cross-entropy on hard labels, optionally mixed with the soft-target KD loss,
/// plus an optional hint (FitNets) term. Holds the hint adapter as submodule "adapter": train its
/// parameters together with the student's.</summary>
public sealed class DistillationLoss : nn.Module
{
    private readonly LossOptions _options;
    private readonly bool _flattenHint;

    public DistillationLoss(LossOptions options, ZooModel student, ITeacher? teacher)
        : base("distillation_loss")
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(student);
        Validate(options);
        _options = options;

        if (options.Hint is { } hint)
        {
            if (teacher is null)
            {
                throw new InvalidInputException("A hint loss needs a teacher, but the plan has none.");
            }
            var studentShape = RequireTap(student, student.Spec.Arch.ToString().ToLowerInvariant(), hint.StudentTap, "student");
            var teacherShape = RequireTap(teacher, teacher.Description, hint.TeacherTap, "teacher");
            bool sameGrid = studentShape.Length == 3 && teacherShape.Length == 3
                && studentShape[1] == teacherShape[1] && studentShape[2] == teacherShape[2];
            if (sameGrid)
            {
                Adapter = nn.Conv2d(studentShape[0], teacherShape[0], 1);
            }
            else
            {
                Adapter = nn.Linear(Product(studentShape), Product(teacherShape));
                _flattenHint = true;
            }
            register_module("adapter", Adapter);
            StudentTaps = [hint.StudentTap];
            TeacherTaps = [hint.TeacherTap];
        }
        else
        {
            StudentTaps = [];
            TeacherTaps = [];
        }
    }

    /// <summary>Taps the student must produce for <see cref="Compute"/> (empty when there is no hint).</summary>
    public IReadOnlyCollection<string> StudentTaps { get; }
    public IReadOnlyCollection<string> TeacherTaps { get; }
    public bool NeedsTeacher => _options.Kd is not null || _options.Hint is not null;

    /// <summary>1x1 conv (tap grids match) or Linear on flattened taps, mapping the student tap to the
    /// teacher tap's size; null without a hint.</summary>
    public nn.Module<Tensor, Tensor>? Adapter { get; }

    /// <summary>total = kd ? Alpha·Soft + (1−Alpha)·CE : CE, plus Hint.Weight·MSE(adapter(student tap), teacher tap).
    /// Teacher outputs are detached. Results belong to the caller's dispose scope.</summary>
    public LossTerms Compute(Tensor studentLogits, IReadOnlyDictionary<string, Tensor> studentTaps, Tensor? teacherLogits,
        IReadOnlyDictionary<string, Tensor>? teacherTaps, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(studentLogits);
        ArgumentNullException.ThrowIfNull(labels);
        var hardCe = nn.functional.cross_entropy(studentLogits, labels, label_smoothing: _options.LabelSmoothing);
        var total = hardCe;
        Tensor? soft = null;
        if (_options.Kd is { } kd)
        {
            if (teacherLogits is null)
            {
                throw new ArgumentException("The KD loss needs the teacher's logits.", nameof(teacherLogits));
            }
            soft = KdLoss.SoftTarget(studentLogits, teacherLogits.detach(), kd.Temperature);
            total = kd.Alpha * soft + (1 - kd.Alpha) * hardCe;
        }
        Tensor? hintLoss = null;
        if (_options.Hint is { } hint && Adapter is not null)
        {
            if (!studentTaps.TryGetValue(hint.StudentTap, out var studentTap))
            {
                throw new ArgumentException($"The student tap '{hint.StudentTap}' was not produced.", nameof(studentTaps));
            }
            if (teacherTaps is null || !teacherTaps.TryGetValue(hint.TeacherTap, out var teacherTap))
            {
                throw new ArgumentException($"The teacher tap '{hint.TeacherTap}' was not produced.", nameof(teacherTaps));
            }
            var target = teacherTap.detach();
            var source = studentTap;
            if (_flattenHint)
            {
                source = source.flatten(1);
                target = target.flatten(1);
            }
            hintLoss = nn.functional.mse_loss(Adapter.call(source), target);
            total = total + hint.Weight * hintLoss;
        }
        return new LossTerms(total, hardCe, soft, hintLoss);
    }

    private static long[] RequireTap(ITeacher model, string description, string tap, string role)
    {
        if (!model.TapNames.Contains(tap))
        {
            throw new InvalidInputException(
                $"Hint {role} tap '{tap}' is not a tap of the {role} ({description}); valid taps: {string.Join(", ", model.TapNames)}.");
        }
        return model.TapShape(tap);
    }

    private static void Validate(LossOptions options)
    {
        if (options.LabelSmoothing < 0 || options.LabelSmoothing >= 1)
        {
            throw new InvalidInputException($"Label smoothing must be in [0, 1), got {options.LabelSmoothing}.");
        }
        if (options.Kd is { } kd)
        {
            if (!(kd.Temperature > 0))
            {
                throw new InvalidInputException($"KD temperature must be positive, got {kd.Temperature}.");
            }
            if (kd.Alpha < 0 || kd.Alpha > 1)
            {
                throw new InvalidInputException($"KD alpha must be in [0, 1], got {kd.Alpha}.");
            }
        }
        if (options.Hint is { } hint && hint.Weight < 0)
        {
            throw new InvalidInputException($"Hint weight must not be negative, got {hint.Weight}.");
        }
    }

    private static long Product(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);
}
