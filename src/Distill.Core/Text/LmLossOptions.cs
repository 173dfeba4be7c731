using Distill.Core.Distillation;

namespace Distill.Core.Text;

/// <summary>Attention-map distillation between one student block and one teacher block
/// (names "block{i}", see <see cref="TransformerLm.BlockName"/>).</summary>
public sealed record AttentionDistillOptions
{
    public required string StudentBlock { get; init; }
    public required string TeacherBlock { get; init; }
    public double Weight { get; init; } = 1.0;
}

/// <summary>What a language-model stage minimises: next-token cross-entropy, optionally mixed with token-level
/// soft-target KD (<see cref="KdOptions"/>: alpha · T²·KL + (1 − alpha) · CE), plus weighted hidden-state hints
/// (<see cref="HintOptions"/>: StudentTap / TeacherTap are hidden-state names such as "block1") and an
/// optional attention-map term.</summary>
public sealed record LmLossOptions
{
    public KdOptions? Kd { get; init; }
    public IReadOnlyList<HintOptions> Hints { get; init; } = [];
    public AttentionDistillOptions? Attention { get; init; }
}
