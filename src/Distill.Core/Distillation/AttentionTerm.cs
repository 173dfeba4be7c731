using Distill.Core.Text;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>Attention-map distillation between one student block and one teacher block
/// (names "block{i}", see <see cref="TransformerLm.BlockName"/>).</summary>
public sealed record AttentionDistillOptions : ILossTermOptions
{
    public required string StudentBlock { get; init; }
    public required string TeacherBlock { get; init; }
    public double Weight { get; init; } = 1.0;

    public void Validate() => AttentionTerm.Entry.Key("attention").Check("weight", Weight);
}

/// <summary>
/// Language models: Weight · KL(teacher ‖ student) between the head-averaged attention maps of two blocks
/// (<see cref="LmLosses.AttentionMapKl"/>), added to the total. The teacher's maps are detached.
/// </summary>
public sealed class AttentionTerm : ILossTerm
{
    private static readonly AttentionDistillOptions Defaults = new() { StudentBlock = "", TeacherBlock = "" };

    public static LossTermEntry Entry { get; } = LossTermEntry.For<AttentionDistillOptions>(
        "attention", "plus weight * KL between two blocks' head-averaged attention maps (transformer-lm)",
        LossNeeds.Teacher | LossNeeds.LiveTeacher | LossNeeds.TeacherInternals | LossNeeds.StudentInternals,
        [
            new("attention", LossKeyShape.Section, "transformer-lm: attention-map distillation, KL between head-averaged attention maps; needs a teacher",
            [
                new("student_block", OptionKind.Text, "", "Student block whose attention maps are trained (block0, block1, ...)") { Required = true },
                new("teacher_block", OptionKind.Text, "", "Teacher block whose head-averaged attention maps are the target") { Required = true },
                new("weight", OptionKind.Number, Defaults.Weight, "Weight of the attention-map KL term") { Range = new(0, MinExclusive: true) },
            ]) { LanguageModelsOnly = true },
        ],
        loss => loss.Section("attention") is { } attention
            ? new AttentionDistillOptions { StudentBlock = attention.Text("student_block"), TeacherBlock = attention.Text("teacher_block"), Weight = attention.Number("weight") }
            : null,
        (o, student, teacher) => new AttentionTerm(o, student, teacher));

    private readonly AttentionDistillOptions _options;

    private AttentionTerm(AttentionDistillOptions options, LossModel student, LossModel? teacher)
    {
        _options = options;
        if (teacher is null)
            throw new InvalidInputException("The attention loss needs a teacher, but there is none.");
        if (teacher.LogitsOnly)
            throw new InvalidInputException($"The attention loss needs the teacher's hidden states, but {teacher.Description} gives its logits only (use kd).");
        RequireBlock(student, options.StudentBlock, "student");
        RequireBlock(teacher, options.TeacherBlock, "teacher");
    }

    public bool NeedsAttention => true;

    public Tensor Compute(LossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var teacher = inputs.Teacher ?? throw new ArgumentException("The attention loss needs a live teacher's outputs.", nameof(inputs));
        var studentMap = Produced(inputs.Student.Attention, _options.StudentBlock, "student");
        var teacherMap = Produced(teacher.Attention, _options.TeacherBlock, "teacher").detach();
        return LmLosses.AttentionMapKl(studentMap, teacherMap).Times(_options.Weight);
    }

    private static void RequireBlock(LossModel model, string block, string role)
    {
        if (!model.AttentionBlocks.Contains(block))
        {
            throw new InvalidInputException(
                $"'{block}' is not a {role} block ({model.Description}); valid: {string.Join(", ", model.AttentionBlocks)}.");
        }
    }

    private static Tensor Produced(IReadOnlyDictionary<string, Tensor> maps, string block, string role) =>
        maps.TryGetValue(block, out var value)
            ? value
            : throw new ArgumentException($"The {role} attention map of '{block}' was not produced; ask the forward pass for it.");
}
