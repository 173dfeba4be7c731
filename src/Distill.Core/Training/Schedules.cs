namespace Distill.Core.Training;

/// <summary>Which learning-rate schedule a stage uses; <see cref="Schedules.Registry"/> holds each one's name and curve.</summary>
public enum ScheduleKind { Constant, Step, Cosine, OneCycle }

/// <summary>Where a schedule is: the stage's options, the base (peak) rate, the optimiser step and the stage's length.</summary>
/// <param name="Progress">For schedules with warm-up: the fraction of the steps after warm-up done, in [0, 1].</param>
public readonly record struct ScheduleStep(ScheduleOptions Options, double BaseLr, long Step, long StepsPerEpoch, long TotalSteps, double Progress);

/// <summary>One learning-rate schedule: its <see cref="ScheduleKind"/>, its name and its rate as a pure function of the step.</summary>
/// <param name="Warmup">Whether the linear warm-up (warmup_epochs) comes first; <see cref="Rate"/> is then asked only after it.</param>
public sealed record ScheduleEntry(ScheduleKind Kind, string Name, string Doc, bool Warmup, Func<ScheduleStep, double> Rate) : IRegistryEntry
{
    public IReadOnlyList<string> Aliases { get; init; } = [];
}

/// <summary>The learning-rate schedules and their options. To add one: a member of <see cref="ScheduleKind"/> above and a
/// line here (plus, for a new option, a property on <see cref="ScheduleOptions"/> and a line in <see cref="Options"/>).</summary>
public static class Schedules
{
    // One-cycle starts at peak/25 and ends at start/1e4, as in Smith & Topin (2019) and PyTorch's OneCycleLR.
    private const double OneCycleDivFactor = 25.0;
    private const double OneCycleFinalDivFactor = 1e4;

    public static Registry<ScheduleEntry> Registry { get; } = new("schedule",
    [
        new(ScheduleKind.Constant, "constant", "lr", Warmup: true, s => s.BaseLr),
        new(ScheduleKind.Step, "step", "lr · gamma^⌊epoch / step_epochs⌋", Warmup: true,
            s => s.BaseLr * Math.Pow(s.Options.Gamma, s.Step / s.StepsPerEpoch / Math.Max(1, s.Options.StepEpochs))),
        new(ScheduleKind.Cosine, "cosine", "min_lr + (lr − min_lr)(1 + cos πp)/2 over the progress p after warm-up", Warmup: true,
            s => Cosine(s.BaseLr, s.Options.MinLearningRate, s.Progress)),
        new(ScheduleKind.OneCycle, "one_cycle", "cosine from lr/25 up to lr over pct_start of the steps, then down to lr/25/1e4 (Smith & Topin)",
            Warmup: false, OneCycle),
    ]);

    private static readonly ScheduleOptions Defaults = new();

    /// <summary>The options every schedule section has, in recipe order; defaults are <see cref="ScheduleOptions"/>'.</summary>
    public static IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("warmup_epochs", OptionKind.Number, Defaults.WarmupEpochs, "Linear warm-up from 0 over this many epochs (not for one_cycle)") { Range = new(0) },
        new("step_epochs", OptionKind.Integer, Defaults.StepEpochs, "step: multiply the rate by gamma every this many epochs") { Range = new(1, Max: 100000) },
        new("gamma", OptionKind.Number, Defaults.Gamma, "step: factor") { Range = new(0, MinExclusive: true) },
        new("min_lr", OptionKind.Number, Defaults.MinLearningRate, "cosine: final learning rate") { Range = new(0) },
        new("pct_start", OptionKind.Number, Defaults.PctStart, "one_cycle: fraction of steps spent rising to the peak") { Range = new(0, MinExclusive: true, Max: 1, MaxExclusive: true) },
    ];

    public static ScheduleEntry Of(ScheduleKind kind) => Registry.Entries.First(e => e.Kind == kind);

    private static double OneCycle(ScheduleStep s)
    {
        double start = s.BaseLr / OneCycleDivFactor;
        double end = start / OneCycleFinalDivFactor;
        long upSteps = Math.Max(1, (long)Math.Round(s.Options.PctStart * s.TotalSteps));
        if (s.Step < upSteps)
            return Cosine(start, s.BaseLr, (double)s.Step / upSteps);
        long downSteps = Math.Max(1, s.TotalSteps - upSteps);
        return Cosine(s.BaseLr, end, Math.Clamp((double)(s.Step - upSteps) / downSteps, 0.0, 1.0));
    }

    /// <summary>Cosine interpolation from <paramref name="from"/> (progress 0) to <paramref name="to"/> (progress 1).</summary>
    private static double Cosine(double from, double to, double progress) =>
        to + (from - to) * (1 + Math.Cos(Math.PI * progress)) / 2;
}
