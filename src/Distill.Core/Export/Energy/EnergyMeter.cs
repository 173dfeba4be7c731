using System.Diagnostics;
using System.Globalization;

namespace Distill.Core.Export.Energy;

/// <summary>How a run's energy is obtained: RAPL under <see cref="PowercapRoot"/> where a package counter is readable,
/// else this process's CPU time × <see cref="WattsPerCore"/>.</summary>
public sealed record EnergyOptions
{
    public const string DefaultPowercapRoot = "/sys/class/powercap";

    public double WattsPerCore { get; init; } = EnergyMeter.DefaultWattsPerCore;

    /// <summary>The powercap sysfs folder; tests point it at a fake tree.</summary>
    public string PowercapRoot { get; init; } = DefaultPowercapRoot;

    public EnergyMeter CreateMeter() => EnergyMeter.Create(PowercapRoot, WattsPerCore);
}

/// <summary>Energy over a measured stretch of work, with how it was obtained ("measured:rapl" or
/// "estimated:cpu-time"); the two are never mixed.</summary>
public sealed record EnergyReading(double Joules, string Method);

/// <summary>
/// Measures the energy of the work between <see cref="Start"/> and <see cref="Stop"/>: from Intel/AMD RAPL where the
/// package counters are readable, otherwise estimated from this process's CPU time. Pick one with <see cref="Create"/>.
/// </summary>
public abstract class EnergyMeter
{
    /// <summary>What a busy core is taken to draw when there is no RAPL: a laptop or desktop core under load draws
    /// roughly 5 to 15 W; set your own with <c>--watts-per-core</c>.</summary>
    public const double DefaultWattsPerCore = 10;

    public abstract string Method { get; }

    public abstract void Start();

    public abstract EnergyReading Stop();

    /// <summary>RAPL when <paramref name="powercapRoot"/> has a readable package domain, else the CPU-time estimate.</summary>
    public static EnergyMeter Create(string powercapRoot = EnergyOptions.DefaultPowercapRoot, double wattsPerCore = DefaultWattsPerCore) =>
        RaplMeter.TryOpen(powercapRoot) ?? (EnergyMeter)new CpuTimeMeter(wattsPerCore);
}

/// <summary>The CPU time this process spent (all its threads) × a power per busy core.</summary>
public sealed class CpuTimeMeter(double wattsPerCore) : EnergyMeter
{
    private TimeSpan _start;

    public override string Method => "estimated:cpu-time";

    public double WattsPerCore { get; } = wattsPerCore > 0 ? wattsPerCore
        : throw new ArgumentOutOfRangeException(nameof(wattsPerCore), "the power per core must be positive");

    public override void Start() => _start = Process.GetCurrentProcess().TotalProcessorTime;

    public override EnergyReading Stop() =>
        new((Process.GetCurrentProcess().TotalProcessorTime - _start).TotalSeconds * WattsPerCore, Method);
}

/// <summary>
/// The package domains of the powercap RAPL driver: &lt;root&gt;/intel-rapl:N/energy_uj (microjoules, a counter that wraps
/// to 0 after max_energy_range_uj) for every top-level domain whose name starts with "package". Reading energy_uj
/// needs root on recent kernels; an unreadable counter means no RAPL. It measures the whole package, not only this
/// process: keep the machine otherwise idle.
/// </summary>
public sealed class RaplMeter : EnergyMeter
{
    private readonly List<(string Counter, long Range)> _domains;
    private long[] _start = [];

    private RaplMeter(List<(string, long)> domains) => _domains = domains;

    public override string Method => "measured:rapl";

    public static RaplMeter? TryOpen(string root)
    {
        if (!Directory.Exists(root))
            return null;
        var domains = new List<(string, long)>();
        // Top-level domains are intel-rapl:N; their subzones (intel-rapl:N:M: core, uncore, dram) are inside the package's.
        foreach (string zone in Directory.GetDirectories(root, "intel-rapl:*").Where(d => Path.GetFileName(d).Count(c => c == ':') == 1).Order(StringComparer.Ordinal))
        {
            if (Read(Path.Combine(zone, "name")) is not { } name || !name.StartsWith("package", StringComparison.Ordinal))
                continue;
            string counter = Path.Combine(zone, "energy_uj");
            if (ReadLong(counter) is null || ReadLong(Path.Combine(zone, "max_energy_range_uj")) is not long range || range <= 0)
                return null;
            domains.Add((counter, range));
        }
        return domains.Count == 0 ? null : new RaplMeter(domains);
    }

    public override void Start() => _start = _domains.Select(d => ReadLong(d.Counter) ?? 0).ToArray();

    public override EnergyReading Stop()
    {
        double microjoules = 0;
        for (int i = 0; i < _domains.Count; i++)
            microjoules += Elapsed(_start[i], ReadLong(_domains[i].Counter) ?? _start[i], _domains[i].Range);
        return new(microjoules / 1e6, Method);
    }

    /// <summary>The counter's advance, across one wrap: it counts up to <paramref name="range"/> and starts again at 0.</summary>
    public static long Elapsed(long start, long end, long range) => end >= start ? end - start : range - start + end;

    private static string? Read(string file)
    {
        try
        {
            return File.ReadAllText(file).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long? ReadLong(string file) =>
        long.TryParse(Read(file), NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value : null;
}
