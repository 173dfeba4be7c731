using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>The loss of one batch: its total and each term's value by the term's name ("cross_entropy", "kd",
/// "hint", …: the cross-entropy and KD before their alpha mix, the other terms as they are added, with their
/// weights). Scalars in the caller's dispose scope.</summary>
public sealed record LossResult(Tensor Total, IReadOnlyDictionary<string, Tensor> Parts)
{
    /// <summary>A term's value; null when the term is off.</summary>
    public Tensor? Part(string name) => Parts.GetValueOrDefault(name);
}

/// <summary>
/// The loss of a stage, for classifiers and language models alike: the terms of its <see cref="LossOptions"/>, built by
/// their <see cref="Losses.Registry"/> entries for the student and the teacher, folded in registry order — the total
/// starts as the cross-entropy, KD mixes with it (alpha · KD + (1 − alpha) · CE), then each further term is added.
/// Holds the terms' learned adapters as submodules under their own names ("adapter", "adapter0", …): train their
/// parameters with the student's; checkpoints store them by those names.
/// </summary>
public sealed class DistillationLoss : nn.Module
{
    private readonly List<(LossTermEntry Entry, ILossTerm Term)> _terms = [];

    /// <param name="teacher">The teacher as the terms see it; null for a teacher's own training or a student without one.</param>
    /// <exception cref="InvalidInputException">An option is out of range, or the models lack what a term needs (a
    /// teacher, a tap, a block, the same vocabulary).</exception>
    public DistillationLoss(LossOptions options, LossModel student, LossModel? teacher)
        : base("distillation_loss")
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(student);
        var terms = options.Resolved();
        foreach (var term in terms)
            term.Validate();
        foreach (var termOptions in terms)
        {
            var entry = Losses.Of(termOptions);
            var term = entry.Create(termOptions, student, teacher);
            foreach (var (name, adapter) in term.Adapters)
                register_module(name, adapter);
            _terms.Add((entry, term));
        }
        StudentTaps = [.. _terms.SelectMany(t => t.Term.StudentTaps).Distinct()];
        TeacherTaps = [.. _terms.SelectMany(t => t.Term.TeacherTaps).Distinct()];
        NeedsAttention = _terms.Any(t => t.Term.NeedsAttention);
        NeedsTeacher = _terms.Any(t => t.Entry.Needs.HasFlag(LossNeeds.Teacher));
        Adapters = _terms.SelectMany(t => t.Term.Adapters).ToDictionary();
    }

    /// <summary>Taps (hidden states) the student's forward must return.</summary>
    public IReadOnlyCollection<string> StudentTaps { get; }

    /// <summary>Taps (hidden states) the teacher's forward must return.</summary>
    public IReadOnlyCollection<string> TeacherTaps { get; }

    /// <summary>Whether both models must return attention maps.</summary>
    public bool NeedsAttention { get; }

    /// <summary>Whether a term reads the teacher's outputs (live or cached).</summary>
    public bool NeedsTeacher { get; }

    /// <summary>The terms' learned adapters by their module names.</summary>
    public IReadOnlyDictionary<string, nn.Module<Tensor, Tensor>> Adapters { get; }

    /// <summary>The names of the terms, in the order they are folded.</summary>
    public IReadOnlyList<string> TermNames => [.. _terms.Select(t => t.Entry.Name)];

    public LossResult Compute(LossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Tensor? total = null;
        var parts = new Dictionary<string, Tensor>();
        foreach (var (entry, term) in _terms)
        {
            var value = term.Compute(inputs);
            parts[entry.Name] = value;
            total = term.Join(total, value);
        }
        return new LossResult(total!, parts);
    }
}
