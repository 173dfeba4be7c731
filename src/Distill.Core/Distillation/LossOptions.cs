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
}
