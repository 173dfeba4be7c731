using Distill.Core.Text;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>Options of soft-target distillation.</summary>
public sealed record KdOptions : ILossTermOptions
{
    public double Temperature { get; init; } = 4.0;
    public double Alpha { get; init; } = 0.9;

    /// <summary>Z-score each sample's logits (student and teacher) before the temperature softmax.</summary>
    public bool Standardize { get; init; }

    /// <summary>Language models: cache the teacher's top-k logits per position once (KD reads them instead of running
    /// the teacher every step); null = run the teacher every step.</summary>
    public int? TeacherCacheTopK { get; init; }

    public void Validate()
    {
        var kd = KdTerm.Entry.Key("kd");
        kd.Check("temperature", Temperature);
        kd.Check("alpha", Alpha);
        if (TeacherCacheTopK is { } k)
            KdTerm.Entry.Key("teacher_cache").Check("top_k", k);
        if (Standardize && TeacherCacheTopK is not null)
            throw new InvalidInputException("kd.standardize needs the teacher's full logits; a teacher_cache keeps only its top-k.");
    }
}

/// <summary>
/// Soft-target distillation (Hinton et al. 2015): KD = T² · KL(softmax(t/T) ‖ softmax(s/T)), summed over the classes
/// (tokens) and averaged over the samples (positions), from the teacher's logits t (<see cref="KdLoss.SoftTarget"/>)
/// or, for a language model with a teacher cache, over its top-k logits plus one tail bucket
/// (<see cref="TopKTeacherCache.Loss"/>). It mixes with the cross-entropy before it: total = Alpha · KD + (1 − Alpha) · CE.
/// </summary>
public sealed class KdTerm : ILossTerm
{
    /// <summary>Most teacher logits a cache keeps per position.</summary>
    public const int MaxCacheTopK = 1 << 20;

    /// <summary>The logits a cache keeps per position when the recipe's teacher_cache names no top_k.</summary>
    public const int DefaultCacheTopK = 32;

    private static readonly KdOptions Defaults = new();

    public static LossTermEntry Entry { get; } = LossTermEntry.For<KdOptions>(
        "kd", "alpha * KD + (1 - alpha) * cross_entropy, KD = T^2 * KL(teacher_T || student_T)", LossNeeds.Teacher,
        [
            new("kd", LossKeyShape.Section, "Soft-target distillation (Hinton et al.); needs a teacher",
            [
                new("temperature", OptionKind.Number, Defaults.Temperature, "Softmax temperature T (the KL term is scaled by T^2)") { Range = new(0, MinExclusive: true) },
                new("alpha", OptionKind.Number, Defaults.Alpha, "Weight of the soft-target term; 1 - alpha weighs the hard-label term") { Range = new(0, Max: 1) },
                new("standardize", OptionKind.Boolean, Defaults.Standardize, "Z-score each sample's logits before the softmax (logit standardisation, Sun et al. CVPR 2024); not with teacher_cache"),
            ]),
            new("teacher_cache", LossKeyShape.Section,
                "transformer-lm with kd: run the teacher once over the training windows and keep its top-k logits per position; absent = run the teacher every step. The KL is then computed on the top-k plus one tail bucket",
                [
                    new("top_k", OptionKind.Integer, DefaultCacheTopK, "Teacher logits kept per position; the rest of the vocabulary is one tail bucket; at most the vocabulary")
                    {
                        Range = new(1, Max: MaxCacheTopK),
                    },
                ]) { LanguageModelsOnly = true },
        ],
        loss => loss.Section("kd") is { } kd
            ? new KdOptions { Temperature = kd.Number("temperature"), Alpha = kd.Number("alpha"), Standardize = kd.Boolean("standardize"), TeacherCacheTopK = loss.Section("teacher_cache")?.Integer("top_k") }
            : null,
        (o, student, teacher) => new KdTerm(o, student, teacher));

    private readonly KdOptions _options;

    private KdTerm(KdOptions options, LossModel student, LossModel? teacher)
    {
        _options = options;
        if (teacher is null)
            throw new InvalidInputException("The kd loss needs a teacher, but there is none.");
        if (teacher.Vocabulary is { } teacherVocab && student.Vocabulary is { } studentVocab && teacherVocab != studentVocab)
        {
            throw new InvalidInputException(
                $"Teacher and student vocabularies differ ({teacherVocab} vs {studentVocab} tokens): token-level KD needs the same tokenizer.");
        }
    }

    public Tensor Compute(LossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var student = inputs.Student.Logits;
        if (inputs.Cached is { } cached)
            return TopKTeacherCache.Loss(student, cached, _options.Temperature);
        var teacher = inputs.Teacher?.Logits
            ?? throw new ArgumentException("KD needs the teacher's logits or cached top-k targets.", nameof(inputs));
        teacher = teacher.detach();
        if (_options.Standardize)
            (student, teacher) = (DkdTerm.Standardized(student), DkdTerm.Standardized(teacher));
        // Any [..., C] logits: every position (a classifier's sample, a language model's token) is one distribution.
        return LmLosses.SoftTargetKl(student, teacher, _options.Temperature);
    }

    /// <summary>Alpha · KD + (1 − Alpha) · total, the total so far being the cross-entropy (the registry's first term).</summary>
    public Tensor Join(Tensor? total, Tensor value) =>
        value.Times(_options.Alpha).Plus((total ?? throw new InvalidOperationException("KD mixes with the cross-entropy, which comes first")).Times(1 - _options.Alpha));
}
