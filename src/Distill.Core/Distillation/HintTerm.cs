using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>One hint: a student tap, the teacher tap it learns, and the weight of its MSE.</summary>
public sealed record HintOptions
{
    public required string StudentTap { get; init; }
    public required string TeacherTap { get; init; }
    public double Weight { get; init; } = 1.0;
}

/// <summary>Options of the hint term: the recipe's loss.hint, then (language models) each of loss.hints.</summary>
public sealed record HintLossOptions : ILossTermOptions
{
    public IReadOnlyList<HintOptions> Hints { get; init; } = [];

    public void Validate()
    {
        if (Hints.Count == 0)
            throw new InvalidInputException("A hint loss needs at least one hint.");
        foreach (var hint in Hints)
            HintTerm.Entry.Key("hint").Check("weight", hint.Weight);
    }

    public bool Equals(HintLossOptions? other) => other is not null && Hints.SequenceEqual(other.Hints);

    public override int GetHashCode() => Hints.Aggregate(0, HashCode.Combine);
}

/// <summary>
/// Hints (FitNets, Romero et al. 2015): Σ_i w_i · MSE(adapter_i(student tap_i), teacher tap_i), added to the total.
/// Each hint has a learned adapter from the student tap's size to the teacher tap's: a 1×1 conv when both are
/// [C, H, W] maps on the same grid, else a linear layer on the flattened taps; for a language model's hidden states,
/// a linear layer d_student → d_teacher at every position. The adapters are registered as "adapter" (a classifier's
/// one hint) or "adapter0", "adapter1", … (language models; a classifier's further hints), the names checkpoints
/// hold them under. Teacher taps are detached.
/// </summary>
public sealed class HintTerm : ILossTerm
{
    private static readonly HintOptions Defaults = new() { StudentTap = "", TeacherTap = "" };

    private static readonly OptionSpec Weight = new("weight", OptionKind.Number, Defaults.Weight, "Weight of the feature MSE term")
    {
        Range = new(0, MinExclusive: true),
    };

    public static LossTermEntry Entry { get; } = LossTermEntry.For<HintLossOptions>(
        "hint", "plus weight * MSE(adapter(student tap), teacher tap) per hint",
        LossNeeds.Teacher | LossNeeds.LiveTeacher | LossNeeds.TeacherInternals | LossNeeds.StudentInternals,
        [
            new("hint", LossKeyShape.Section, "Feature (FitNets) loss through a learned adapter; needs a teacher",
            [
                RequiredName("student_tap", "Named intermediate output of the student (e.g. block1)"),
                RequiredName("teacher_tap", "Named intermediate output of the teacher"),
                Weight,
            ]),
            new("hints", LossKeyShape.List,
                "transformer-lm: further hints between hidden states (embed, block0, block1, ..., final), each through its own adapter; needs a teacher",
                [
                    RequiredName("student_tap", "Student hidden state (embed, block0, ..., final)"),
                    RequiredName("teacher_tap", "Teacher hidden state"),
                    Weight with { Doc = "Weight of this hint's MSE term" },
                ]) { LanguageModelsOnly = true },
        ],
        Bind,
        (o, student, teacher) => new HintTerm(o, student, teacher));

    private readonly List<(HintOptions Hint, nn.Module<Tensor, Tensor> Adapter, bool Flatten)> _hints = [];

    private HintTerm(HintLossOptions options, LossModel student, LossModel? teacher)
    {
        if (teacher is null)
            throw new InvalidInputException("The hint loss needs a teacher, but there is none.");
        if (teacher.LogitsOnly)
            throw new InvalidInputException($"The hint loss needs the teacher's hidden states, but {teacher.Description} gives its logits only (use kd).");
        var adapters = new List<KeyValuePair<string, nn.Module<Tensor, Tensor>>>();
        for (int i = 0; i < options.Hints.Count; i++)
        {
            var hint = options.Hints[i];
            var studentShape = RequireTap(student, hint.StudentTap, "student");
            var teacherShape = RequireTap(teacher, hint.TeacherTap, "teacher");
            var (adapter, flatten) = NewAdapter(student.PerPosition, studentShape, teacherShape);
            _hints.Add((hint, adapter, flatten));
            adapters.Add(new(student.PerPosition || i > 0 ? $"adapter{i}" : "adapter", adapter));
        }
        Adapters = adapters;
        StudentTaps = [.. options.Hints.Select(h => h.StudentTap).Distinct()];
        TeacherTaps = [.. options.Hints.Select(h => h.TeacherTap).Distinct()];
    }

    public IReadOnlyCollection<string> StudentTaps { get; }

    public IReadOnlyCollection<string> TeacherTaps { get; }

    public IReadOnlyList<KeyValuePair<string, nn.Module<Tensor, Tensor>>> Adapters { get; }

    public Tensor Compute(LossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var teacher = inputs.Teacher ?? throw new ArgumentException("The hint loss needs a live teacher's outputs.", nameof(inputs));
        Tensor? sum = null;
        foreach (var (hint, adapter, flatten) in _hints)
        {
            var source = Produced(inputs.Student.Taps, hint.StudentTap, "student");
            var target = Produced(teacher.Taps, hint.TeacherTap, "teacher").detach();
            if (flatten)
            {
                source = source.flatten(1);
                target = target.flatten(1);
            }
            var term = nn.functional.mse_loss(adapter.call(source), target).Times(hint.Weight);
            sum = sum is null ? term : sum.Plus(term);
        }
        return sum!;
    }

    private static HintLossOptions? Bind(IOptionValues loss)
    {
        List<HintOptions> hints = [];
        if (loss.Section("hint") is { } hint)
            hints.Add(BindHint(hint));
        hints.AddRange(loss.Sections("hints").Select(BindHint));
        return hints.Count == 0 ? null : new HintLossOptions { Hints = hints };
    }

    private static HintOptions BindHint(IOptionValues hint) =>
        new() { StudentTap = hint.Text("student_tap"), TeacherTap = hint.Text("teacher_tap"), Weight = hint.Number("weight") };

    private static OptionSpec RequiredName(string key, string doc) => new(key, OptionKind.Text, "", doc) { Required = true };

    /// <summary>Per position: linear on the last dimension. Same [C, H, W] grid: 1×1 conv. Else linear on the flattened taps.</summary>
    private static (nn.Module<Tensor, Tensor> Adapter, bool Flatten) NewAdapter(bool perPosition, long[] student, long[] teacher)
    {
        if (perPosition)
            return (nn.Linear(student[^1], teacher[^1]), false);
        bool sameGrid = student.Length == 3 && teacher.Length == 3 && student[1] == teacher[1] && student[2] == teacher[2];
        return sameGrid
            ? (nn.Conv2d(student[0], teacher[0], 1), false)
            : (nn.Linear(Product(student), Product(teacher)), true);
    }

    private static long[] RequireTap(LossModel model, string tap, string role)
    {
        if (!model.Taps.Contains(tap))
        {
            throw new InvalidInputException(
                $"Hint {role} tap '{tap}' is not a tap of the {role} ({model.Description}); valid taps: {string.Join(", ", model.Taps)}.");
        }
        return model.TapShape(tap);
    }

    private static Tensor Produced(IReadOnlyDictionary<string, Tensor> taps, string tap, string role) =>
        taps.TryGetValue(tap, out var value)
            ? value
            : throw new ArgumentException($"The {role} tap '{tap}' was not produced; ask the forward pass for it.");

    private static long Product(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);
}
