using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>Options of decoupled knowledge distillation.</summary>
public sealed record DkdOptions : ILossTermOptions
{
    /// <summary>Weight of the target-class part (TCKD).</summary>
    public double Alpha { get; init; } = 1.0;

    /// <summary>Weight of the non-target part (NCKD).</summary>
    public double Beta { get; init; } = 8.0;

    public double Temperature { get; init; } = 4.0;

    /// <summary>Z-score each sample's logits (student and teacher) before the temperature softmax.</summary>
    public bool Standardize { get; init; }

    public void Validate()
    {
        var dkd = DkdTerm.Entry.Key("dkd");
        dkd.Check("alpha", Alpha);
        dkd.Check("beta", Beta);
        dkd.Check("temperature", Temperature);
    }
}

/// <summary>
/// Decoupled knowledge distillation (Zhao et al., CVPR 2022). With p = softmax(z/T) for teacher t and student s and
/// g the target class, KD splits into a target-class part, TCKD = KL([p_g^t, 1 − p_g^t] ‖ [p_g^s, 1 − p_g^s]), and a
/// non-target part, NCKD = KL(p̂^t ‖ p̂^s) with p̂ the softmax over the other classes; classic KD weighs NCKD by
/// 1 − p_g^t, which mutes it exactly where the teacher is confident. DKD = T² · (Alpha · TCKD + Beta · NCKD), averaged
/// over the samples (a language model's positions), and is added to the cross-entropy. The target class of a mixed
/// batch (class probabilities) is its most probable class. The paper's warm-up of the DKD weight is not applied.
/// </summary>
public sealed class DkdTerm : ILossTerm
{
    private static readonly DkdOptions Defaults = new();

    public static LossTermEntry Entry { get; } = LossTermEntry.For<DkdOptions>(
        "dkd", "T^2 * (alpha * TCKD + beta * NCKD): KD decoupled into its target-class and non-target parts, added to cross_entropy",
        LossNeeds.Teacher | LossNeeds.LiveTeacher,
        [
            new("dkd", LossKeyShape.Section, "Decoupled KD (Zhao et al.): target-class and non-target parts weighed apart, added to the cross-entropy; needs a teacher",
            [
                new("alpha", OptionKind.Number, Defaults.Alpha, "Weight of the target-class part (TCKD)") { Range = new(0) },
                new("beta", OptionKind.Number, Defaults.Beta, "Weight of the non-target part (NCKD); 8 in the paper's CIFAR-100 runs") { Range = new(0) },
                new("temperature", OptionKind.Number, Defaults.Temperature, "Softmax temperature T (the terms are scaled by T^2)") { Range = new(0, MinExclusive: true) },
                new("standardize", OptionKind.Boolean, Defaults.Standardize, "Z-score each sample's logits before the softmax (logit standardisation, Sun et al. CVPR 2024)"),
            ]),
        ],
        loss => loss.Section("dkd") is { } dkd
            ? new DkdOptions { Alpha = dkd.Number("alpha"), Beta = dkd.Number("beta"), Temperature = dkd.Number("temperature"), Standardize = dkd.Boolean("standardize") }
            : null,
        (o, student, teacher) => new DkdTerm(o, student, teacher));

    private readonly DkdOptions _options;

    private DkdTerm(DkdOptions options, LossModel student, LossModel? teacher)
    {
        _options = options;
        if (teacher is null)
            throw new InvalidInputException("The dkd loss needs a teacher, but there is none.");
        if (teacher.Vocabulary is { } teacherVocab && student.Vocabulary is { } studentVocab && teacherVocab != studentVocab)
            throw new InvalidInputException($"Teacher and student vocabularies differ ({teacherVocab} vs {studentVocab} tokens): dkd needs the same tokenizer.");
    }

    public Tensor Compute(LossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var teacher = inputs.Teacher?.Logits ?? throw new ArgumentException("DKD needs the teacher's logits.", nameof(inputs));
        long classes = inputs.Student.Logits.shape[^1];
        var targets = inputs.Targets.is_floating_point() ? inputs.Targets.reshape(-1, classes).argmax(1) : inputs.Targets.reshape(-1);
        return Decoupled(inputs.Student.Logits.reshape(-1, classes), teacher.detach().reshape(-1, classes), targets, _options);
    }

    /// <summary>DKD of student and teacher logits [N, C] for target classes [N] (int64).</summary>
    public static Tensor Decoupled(Tensor student, Tensor teacher, Tensor targets, DkdOptions options)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(options);
        using var scope = NewDisposeScope();
        double t = options.Temperature;
        if (options.Standardize)
        {
            student = Standardized(student);
            teacher = Standardized(teacher);
        }
        var isTarget = nn.functional.one_hot(targets, student.shape[1]).to(ScalarType.Bool);
        var studentP = nn.functional.softmax(student.DividedBy(t), 1);
        var teacherP = nn.functional.softmax(teacher.DividedBy(t), 1);
        var studentBinary = Binary(studentP, isTarget);
        var teacherBinary = Binary(teacherP, isTarget);
        const double floor = 1e-12;
        var tckd = (teacherBinary * (teacherBinary.ClampedBelow(floor).log() - studentBinary.ClampedBelow(floor).log())).sum(1).mean();
        // The target class pushed to -1000 before the softmax: its probability underflows to 0 among the other classes.
        var pushed = isTarget.Times(1000);
        var studentOthers = nn.functional.log_softmax(student.DividedBy(t) - pushed, 1);
        var teacherOthers = nn.functional.log_softmax(teacher.DividedBy(t) - pushed, 1);
        var nckd = (teacherOthers.exp() * (teacherOthers - studentOthers)).sum(1).mean();
        return tckd.Times(options.Alpha).Plus(nckd.Times(options.Beta)).Times(t * t).MoveToOuterDisposeScope();
    }

    /// <summary>(z − mean(z)) / std(z) over the last dimension, per sample or position (logit standardisation; the standard deviation without Bessel's correction).</summary>
    public static Tensor Standardized(Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        var mean = logits.mean([-1], keepdim: true);
        var std = logits.std(-1, unbiased: false, keepdim: true);
        return (logits - mean) / std.Plus(1e-7);
    }

    private static Tensor Binary(Tensor probabilities, Tensor isTarget)
    {
        var target = probabilities.FilledWhere(isTarget.logical_not(), 0).sum(1, keepdim: true);
        return cat([target, target.From(1)], 1);
    }
}
