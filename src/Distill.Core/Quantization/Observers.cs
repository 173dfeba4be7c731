namespace Distill.Core.Quantization;

/// <summary>Which observer finds a tensor's range; <see cref="Observers.Registry"/> holds each one's name and factory.</summary>
public enum ObserverKind { MinMax, MovingAverageMinMax, Percentile, Entropy, Mse }

/// <summary>One observer: its <see cref="ObserverKind"/>, its names and how to build it.</summary>
/// <param name="PerChannel">Whether it can find one range per channel (per-channel weight schemes need that).</param>
/// <param name="Create">Builds it for a tensor quantised with the scheme; the axis is the channel axis of a per-channel scheme.</param>
public sealed record ObserverEntry(
    ObserverKind Kind,
    string Name,
    string Doc,
    bool PerChannel,
    Func<QuantScheme, ObserverOptions, int?, IObserver> Create) : IRegistryEntry
{
    public IReadOnlyList<string> Aliases { get; init; } = [];
}

/// <summary>The observers. To add one: write its <see cref="IObserver"/> class, add a member to
/// <see cref="ObserverKind"/> and a line here; recipes, target profiles, model cards, `distill targets` and
/// `distill calibrate` all read this table.</summary>
public static class Observers
{
    public static Registry<ObserverEntry> Registry { get; } = new("observer",
    [
        new(ObserverKind.MinMax, "min_max", "running minimum and maximum of everything seen", PerChannel: true,
            (_, _, axis) => new MinMaxObserver(axis)) { Aliases = ["minmax"] },
        new(ObserverKind.MovingAverageMinMax, "moving_average", "exponential moving average of each batch's minimum and maximum (momentum = weight of the newest batch)",
            PerChannel: true, (_, options, axis) => new MovingAverageMinMaxObserver(options.Momentum, axis)) { Aliases = ["moving-average"] },
        new(ObserverKind.Percentile, "percentile", "histogram; each tail clipped at a percentile (e.g. 99.99)", PerChannel: false,
            (_, options, _) => new PercentileObserver(options.Percentile, options.Bins)),
        new(ObserverKind.Entropy, "entropy", "histogram of |x|; the threshold minimising the KL divergence between the float and quantised distributions, as TensorRT calibrates",
            PerChannel: false, (scheme, options, _) => new EntropyObserver(scheme, options.Bins)),
        new(ObserverKind.Mse, "mse", "histogram; the clipping range with the least mean squared quantisation error", PerChannel: false,
            (scheme, options, _) => new MseObserver(scheme, options.Bins)),
    ]);

    private static readonly ObserverOptions Defaults = new();

    /// <summary>The observers' options, in recipe order; defaults are <see cref="ObserverOptions"/>'.</summary>
    public static IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("percentile", OptionKind.Number, Defaults.Percentile, "percentile observer: the percentile kept") { Range = new(50, MinExclusive: true, Max: 100) },
        new("momentum", OptionKind.Number, Defaults.Momentum, "moving_average observer: weight of the newest batch") { Range = new(0, MinExclusive: true, Max: 1) },
        new("bins", OptionKind.Integer, Defaults.Bins, "Histogram bins of the percentile, entropy and mse observers") { Range = new(256, Max: MaxBins) },
    ];

    /// <summary>Most histogram bins (memory and time of the entropy search grow with them).</summary>
    public const int MaxBins = 1 << 16;

    /// <summary>The entry of a kind (every kind has one).</summary>
    public static ObserverEntry Of(ObserverKind kind) => Registry.Entries.First(e => e.Kind == kind);

    /// <summary>The canonical name of a kind, e.g. "min_max".</summary>
    public static string NameOf(ObserverKind kind) => Of(kind).Name;

    /// <summary>An observer of the given kind for a tensor quantised with <paramref name="scheme"/>.
    /// Only observers with <see cref="ObserverEntry.PerChannel"/> support per-channel schemes; the histogram
    /// observers find one range per tensor.</summary>
    public static IObserver Create(ObserverKind kind, QuantScheme scheme, ObserverOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        options ??= new ObserverOptions();
        options.Validate();
        scheme.Validate();
        var entry = Of(kind);
        int? axis = scheme.PerChannel ? scheme.ChannelAxis : null;
        if (axis is not null && !entry.PerChannel)
        {
            var perChannel = Registry.Entries.Where(e => e.PerChannel).Select(e => e.Name);
            throw new InvalidInputException(
                $"the {entry.Name} observer finds one range per tensor; a per-channel scheme needs the {string.Join(" or ", perChannel)} observer.");
        }
        return entry.Create(scheme, options, axis);
    }
}
