using System.Globalization;
using Distill.Core.Export.Energy;
using Distill.Core.Tracking;
using Serilog;

namespace Distill.Core.Training;

/// <summary>
/// The energy of a run's training, phase by phase, with one <see cref="EnergyMeter"/> that runs from the first phase to
/// the last: everything between two laps (preparing a phase, its epochs, validation, checkpoints) counts towards the
/// phase the lap names. The totals go into every checkpoint, so a resumed run adds to them instead of starting from
/// zero (the work done after the last checkpoint and redone on resume is not counted twice, nor at all). A resumed run
/// keeps the method it started with: an estimate stays an estimate even where RAPL became readable, and a run measured
/// with RAPL that is resumed where RAPL cannot be read records no further energy rather than mixing the two.
/// </summary>
public sealed class TrainingEnergy
{
    public const string TotalMetric = "energy/train_joules";
    public const string MethodTag = "energy_method";
    public const string WattsPerCoreTag = "energy_watts_per_core";

    private readonly EnergyMeter? _meter;
    private readonly Dictionary<string, double> _joules;

    private TrainingEnergy(EnergyMeter? meter, Dictionary<string, double> joules, double? wattsPerCore)
    {
        _meter = meter;
        _joules = joules;
        WattsPerCore = wattsPerCore;
    }

    /// <summary>No energy is recorded (a run whose method cannot be kept, and contexts built outside a run).</summary>
    public static TrainingEnergy Off { get; } = new(null, [], null);

    /// <summary>"measured:rapl" or "estimated:cpu-time"; null when nothing is recorded.</summary>
    public string? Method => _meter?.Method;

    /// <summary>The power per busy core of the estimate; null when measured.</summary>
    public double? WattsPerCore { get; }

    /// <summary>Joules per phase name so far (what a checkpoint records).</summary>
    public IReadOnlyDictionary<string, double> Joules => _joules;

    public double Total => _joules.Values.Sum();

    public static string PhaseMetric(string phase) => $"energy/{phase}/train_joules";

    /// <summary>A new run's meter (RAPL where readable, else the estimate), or a resumed run's, continuing the totals
    /// of its checkpoint with the checkpoint's method.</summary>
    /// <param name="resumed">The checkpoint's method and totals when the run is resumed; its method is null in
    /// checkpoints written before Distill recorded energy.</param>
    public static TrainingEnergy Open(EnergyOptions options, (string? Method, IReadOnlyDictionary<string, double>? Joules)? resumed, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        if (resumed is not { } r)
            return Of(options.CreateMeter(), []);
        var joules = new Dictionary<string, double>(r.Joules ?? new Dictionary<string, double>());
        switch (r.Method)
        {
            case null:
                log.Warning("The checkpoint has no energy totals (written by an older Distill): this run's training energy is not recorded");
                return Off;
            case CpuTimeMethod:
                return Of(new CpuTimeMeter(options.WattsPerCore), joules);
            case RaplMethod when RaplMeter.TryOpen(options.PowercapRoot) is { } rapl:
                return Of(rapl, joules);
            default:
                log.Warning("The run's training energy was {Method} before it was resumed, which this machine cannot do: no further energy is recorded for it", r.Method);
                return Off;
        }
    }

    private const string CpuTimeMethod = "estimated:cpu-time";
    private const string RaplMethod = "measured:rapl";

    private static TrainingEnergy Of(EnergyMeter meter, Dictionary<string, double> joules) =>
        new(meter, joules, meter is CpuTimeMeter cpu ? cpu.WattsPerCore : null);

    /// <summary>Starts the meter (before the first phase).</summary>
    public void Start() => _meter?.Start();

    /// <summary>Adds what was used since the last lap (or <see cref="Start"/>) to <paramref name="phase"/>, and goes on.</summary>
    public void Lap(string phase)
    {
        if (_meter is null)
            return;
        var reading = _meter.Stop();
        _meter.Start();
        _joules[phase] = _joules.GetValueOrDefault(phase) + reading.Joules;
    }

    /// <summary>The method tags: energy_method, and energy_watts_per_core for the estimate.</summary>
    public void RecordMethod(ITracker tracker)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        if (Method is null)
            return;
        tracker.SetTag(MethodTag, Method);
        if (WattsPerCore is { } watts)
            tracker.SetTag(WattsPerCoreTag, watts.ToString("R", CultureInfo.InvariantCulture));
    }

    /// <summary>energy/&lt;phase&gt;/train_joules, at step 0.</summary>
    public void RecordPhase(ITracker tracker, string phase)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        if (Method is not null && _joules.TryGetValue(phase, out double joules))
            tracker.LogMetric(PhaseMetric(phase), joules, 0);
    }

    /// <summary>energy/train_joules, the sum over the phases, at step 0.</summary>
    public void RecordTotal(ITracker tracker, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(log);
        if (Method is null)
            return;
        tracker.LogMetric(TotalMetric, Total, 0);
        log.Information("Training energy: {Joules:N1} J ({Method}{Watts})", Total, Method,
            WattsPerCore is { } w ? string.Format(CultureInfo.InvariantCulture, " at {0} W per core", w) : "");
    }
}
