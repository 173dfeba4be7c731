namespace Distill.Core.Training;

/// <summary>Learning rate as a pure function of the optimiser step, so that a resumed run
/// continues on exactly the same curve without saving scheduler state.</summary>
public sealed class LearningRateSchedule
{
    // One-cycle starts at peak/25 and ends at start/1e4, as in Smith & Topin (2019) and PyTorch's OneCycleLR.
    private const double OneCycleDivFactor = 25.0;
    private const double OneCycleFinalDivFactor = 1e4;

    private readonly ScheduleOptions _options;
    private readonly double _baseLr;
    private readonly long _stepsPerEpoch;
    private readonly long _totalSteps;

    public LearningRateSchedule(ScheduleOptions options, double baseLearningRate, long stepsPerEpoch, int epochs)
    {
        _options = options;
        _baseLr = baseLearningRate;
        _stepsPerEpoch = Math.Max(1, stepsPerEpoch);
        _totalSteps = _stepsPerEpoch * Math.Max(1, epochs);
    }

    public double At(long step)
    {
        if (_options.Kind == ScheduleKind.OneCycle)
            return OneCycle(step);

        long warmupSteps = (long)Math.Round(_options.WarmupEpochs * _stepsPerEpoch);
        if (step < warmupSteps)
            return _baseLr * (step + 1) / warmupSteps;

        double progress = _totalSteps > warmupSteps
            ? Math.Clamp((double)(step - warmupSteps) / (_totalSteps - warmupSteps), 0.0, 1.0)
            : 1.0;
        return _options.Kind switch
        {
            ScheduleKind.Constant => _baseLr,
            ScheduleKind.Step => _baseLr * Math.Pow(_options.Gamma, step / _stepsPerEpoch / Math.Max(1, _options.StepEpochs)),
            ScheduleKind.Cosine => Cosine(_baseLr, _options.MinLearningRate, progress),
            _ => throw new ArgumentOutOfRangeException(nameof(_options.Kind), _options.Kind, null),
        };
    }

    private double OneCycle(long step)
    {
        double start = _baseLr / OneCycleDivFactor;
        double end = start / OneCycleFinalDivFactor;
        long upSteps = Math.Max(1, (long)Math.Round(_options.PctStart * _totalSteps));
        if (step < upSteps)
            return Cosine(start, _baseLr, (double)step / upSteps);
        long downSteps = Math.Max(1, _totalSteps - upSteps);
        return Cosine(_baseLr, end, Math.Clamp((double)(step - upSteps) / downSteps, 0.0, 1.0));
    }

    /// <summary>Cosine interpolation from <paramref name="from"/> (progress 0) to <paramref name="to"/> (progress 1).</summary>
    private static double Cosine(double from, double to, double progress) =>
        to + (from - to) * (1 + Math.Cos(Math.PI * progress)) / 2;
}
