using Distill.Core.Text;

namespace Distill.Core.Distillation;

/// <summary>Soft-target distillation (Hinton et al. 2015):
/// loss = Alpha · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − Alpha) · CE(s, y).</summary>
public sealed record KdOptions
{
    public double Temperature { get; init; } = 4.0;
    public double Alpha { get; init; } = 0.9;
}

/// <summary>Hint / feature loss (FitNets): MSE between a learned adapter of a student tap and a teacher tap.</summary>
public sealed record HintOptions
{
    public required string StudentTap { get; init; }
    public required string TeacherTap { get; init; }
    public double Weight { get; init; } = 1.0;
}

/// <summary>What a stage minimises. Neither KD nor hint: plain cross-entropy on hard labels.</summary>
public sealed record LossOptions
{
    public KdOptions? Kd { get; init; }
    public HintOptions? Hint { get; init; }
    public double LabelSmoothing { get; init; }

    /// <summary>Language models: further hints (hidden states "embed", "block{i}", "final"), besides <see cref="Hint"/>.</summary>
    public IReadOnlyList<HintOptions> Hints { get; init; } = [];

    /// <summary>Language models: attention-map distillation between two blocks.</summary>
    public AttentionDistillOptions? Attention { get; init; }

    /// <summary>Language models: cache the teacher's top-k logits per position once (KD reads them instead of
    /// running the teacher every step); null = run the teacher every step.</summary>
    public int? TeacherCacheTopK { get; init; }
}
