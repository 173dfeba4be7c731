namespace Distill.Core.Training;

/// <summary>Learning rate as a pure function of the optimiser step, so that a resumed run
/// continues on exactly the same curve without saving scheduler state. The curves are <see cref="Schedules"/>' entries.</summary>
public sealed class LearningRateSchedule
{
    private readonly ScheduleOptions _options;
    private readonly ScheduleEntry _entry;
    private readonly double _baseLr;
    private readonly long _stepsPerEpoch;
    private readonly long _totalSteps;

    public LearningRateSchedule(ScheduleOptions options, double baseLearningRate, long stepsPerEpoch, int epochs)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _entry = Schedules.Of(options.Kind);
        _baseLr = baseLearningRate;
        _stepsPerEpoch = Math.Max(1, stepsPerEpoch);
        _totalSteps = _stepsPerEpoch * Math.Max(1, epochs);
    }

    public double At(long step)
    {
        if (!_entry.Warmup)
            return _entry.Rate(new ScheduleStep(_options, _baseLr, step, _stepsPerEpoch, _totalSteps, Progress: 0));

        long warmupSteps = (long)Math.Round(_options.WarmupEpochs * _stepsPerEpoch);
        if (step < warmupSteps)
            return _baseLr * (step + 1) / warmupSteps;

        double progress = _totalSteps > warmupSteps
            ? Math.Clamp((double)(step - warmupSteps) / (_totalSteps - warmupSteps), 0.0, 1.0)
            : 1.0;
        return _entry.Rate(new ScheduleStep(_options, _baseLr, step, _stepsPerEpoch, _totalSteps, progress));
    }
}
