using Distill.Core.Distillation;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>The parts of one batch's language-model loss (scalars; null when the term is off).</summary>
public sealed record LmLossTerms(Tensor Total, Tensor CrossEntropy, Tensor? Kd, Tensor? Hidden, Tensor? Attention);

/// <summary>Composes the language-model losses of <see cref="LmLossOptions"/>. Holds one learned linear adapter
/// per hint ("adapter0", …: student d_model → teacher d_model); train its parameters with the student's.</summary>
public sealed class LmDistillationLoss : nn.Module
{
    private readonly LmLossOptions _options;
    private readonly List<Linear> _adapters = [];

    /// <param name="teacher">The teacher's sizes (a live teacher's <see cref="TransformerLm.Options"/>, or those
    /// of the model a <see cref="TopKTeacherCache"/> was built from); null for plain next-token training.</param>
    public LmDistillationLoss(LmLossOptions options, TransformerLmOptions student, TransformerLmOptions? teacher)
        : this(options, student, teacher, teacher?.VocabSize)
    {
    }

    /// <summary>For a teacher known by its logits alone (an ONNX file, <see cref="OnnxLmTeacher"/>) of
    /// <paramref name="teacherVocabSize"/> tokens: KD only, since hint and attention losses need its hidden states.</summary>
    public LmDistillationLoss(LmLossOptions options, TransformerLmOptions student, int teacherVocabSize)
        : this(options, student, null, teacherVocabSize)
    {
    }

    private LmDistillationLoss(LmLossOptions options, TransformerLmOptions student, TransformerLmOptions? teacher, int? teacherVocabSize)
        : base("lm_distillation_loss")
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(student);
        _options = options;
        bool needsTeacher = options.Kd is not null || options.Hints.Count > 0 || options.Attention is not null;
        if (needsTeacher && teacherVocabSize is null)
        {
            throw new InvalidInputException("Distillation losses need a teacher, but there is none.");
        }
        if (teacher is null && teacherVocabSize is not null && (options.Hints.Count > 0 || options.Attention is not null))
        {
            throw new InvalidInputException(
                "Hint and attention losses need the teacher's hidden states; a teacher given as an ONNX file gives its logits only (use KD).");
        }
        if (options.Kd is { } kd)
        {
            if (!(kd.Temperature > 0) || kd.Alpha is < 0 or > 1)
            {
                throw new InvalidInputException($"KD needs temperature > 0 and alpha in [0, 1]; got {kd.Temperature} and {kd.Alpha}.");
            }
            if (teacherVocabSize != student.VocabSize)
            {
                throw new InvalidInputException(
                    $"Teacher and student vocabularies differ ({teacherVocabSize} vs {student.VocabSize} tokens): token-level KD needs the same tokenizer.");
            }
        }
        for (int i = 0; i < options.Hints.Count; i++)
        {
            var hint = options.Hints[i];
            RequireName(hint.StudentTap, HiddenNames(student), "student hidden state");
            RequireName(hint.TeacherTap, HiddenNames(teacher!), "teacher hidden state");
            if (hint.Weight < 0)
            {
                throw new InvalidInputException($"Hint weight must not be negative, got {hint.Weight}.");
            }
            var adapter = nn.Linear(student.DModel, teacher!.DModel);
            _adapters.Add(adapter);
            register_module($"adapter{i}", adapter);
        }
        if (options.Attention is { } attention)
        {
            RequireName(attention.StudentBlock, BlockNames(student), "student block");
            RequireName(attention.TeacherBlock, BlockNames(teacher!), "teacher block");
            if (attention.Weight < 0)
            {
                throw new InvalidInputException($"Attention weight must not be negative, got {attention.Weight}.");
            }
        }
        StudentHidden = options.Hints.Select(h => h.StudentTap).Distinct().ToList();
        TeacherHidden = options.Hints.Select(h => h.TeacherTap).Distinct().ToList();
    }

    /// <summary>Hidden states the student's <see cref="TransformerLm.Run"/> must return.</summary>
    public IReadOnlyCollection<string> StudentHidden { get; }

    /// <summary>Hidden states the teacher's <see cref="TransformerLm.Run"/> must return.</summary>
    public IReadOnlyCollection<string> TeacherHidden { get; }

    /// <summary>Whether both models must return attention maps.</summary>
    public bool NeedsAttention => _options.Attention is not null;

    public bool NeedsTeacher => _options.Kd is not null || _options.Hints.Count > 0 || _options.Attention is not null;

    /// <summary>The loss of one batch. KD comes from <paramref name="teacher"/>'s logits, or from
    /// <paramref name="cached"/> top-k targets when given (then hints and attention need no live teacher only if
    /// they are off). Teacher tensors are detached. Results belong to the caller's dispose scope.</summary>
    public LmLossTerms Compute(LmOutput student, Tensor targets, LmOutput? teacher, TopKTargets? cached = null)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(targets);
        var ce = LmLosses.NextTokenCrossEntropy(student.Logits, targets);
        var total = ce;
        Tensor? kdLoss = null;
        if (_options.Kd is { } kd)
        {
            if (cached is not null)
            {
                kdLoss = TopKTeacherCache.Loss(student.Logits, cached, kd.Temperature);
            }
            else if (teacher is not null)
            {
                kdLoss = LmLosses.SoftTargetKl(student.Logits, teacher.Logits.detach(), kd.Temperature);
            }
            else
            {
                throw new ArgumentException("KD needs the teacher's logits or cached top-k targets.", nameof(teacher));
            }
            total = kd.Alpha * kdLoss + (1 - kd.Alpha) * ce;
        }
        Tensor? hiddenLoss = null;
        for (int i = 0; i < _options.Hints.Count; i++)
        {
            var hint = _options.Hints[i];
            var source = Require(student.Hidden, hint.StudentTap, "student");
            var target = Require(RequireTeacher(teacher).Hidden, hint.TeacherTap, "teacher").detach();
            var term = hint.Weight * nn.functional.mse_loss(_adapters[i].call(source), target);
            hiddenLoss = hiddenLoss is null ? term : hiddenLoss + term;
        }
        if (hiddenLoss is not null)
        {
            total = total + hiddenLoss;
        }
        Tensor? attentionLoss = null;
        if (_options.Attention is { } attention)
        {
            var studentMap = Require(student.Attention, attention.StudentBlock, "student attention");
            var teacherMap = Require(RequireTeacher(teacher).Attention, attention.TeacherBlock, "teacher attention").detach();
            attentionLoss = LmLosses.AttentionMapKl(studentMap, teacherMap);
            total = total + attention.Weight * attentionLoss;
        }
        return new LmLossTerms(total, ce, kdLoss, hiddenLoss, attentionLoss);
    }

    private static LmOutput RequireTeacher(LmOutput? teacher) =>
        teacher ?? throw new ArgumentException("Hint and attention losses need a live teacher's outputs.", nameof(teacher));

    private static Tensor Require(IReadOnlyDictionary<string, Tensor> outputs, string name, string role) =>
        outputs.TryGetValue(name, out var value)
            ? value
            : throw new ArgumentException($"The {role} output '{name}' was not produced; ask Run for it.");

    private static IReadOnlyList<string> HiddenNames(TransformerLmOptions options) =>
        [TransformerLm.EmbeddingName, .. BlockNames(options), TransformerLm.FinalName];

    private static IReadOnlyList<string> BlockNames(TransformerLmOptions options) =>
        Enumerable.Range(0, options.Layers).Select(TransformerLm.BlockName).ToList();

    private static void RequireName(string name, IReadOnlyList<string> valid, string what)
    {
        if (!valid.Contains(name))
        {
            throw new InvalidInputException($"'{name}' is not a {what}; valid: {string.Join(", ", valid)}.");
        }
    }
}
