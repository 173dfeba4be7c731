using System.Globalization;
using Distill.Core.Export.Energy;

namespace Distill.Core.Tests.Export;

/// <summary>
/// The RAPL meter on a powercap tree written as the kernel lays it out (Documentation/power/powercap): top-level
/// zones intel-rapl:N with name, energy_uj and max_energy_range_uj, subzones intel-rapl:N:M inside them, a psys
/// (platform) zone that is not a package; energy_uj counts microjoules up to max_energy_range_uj and wraps to 0.
/// </summary>
public sealed class EnergyMeterTests : IDisposable
{
    private const long Range = 262_143_328_850; // a real package's max_energy_range_uj

    private readonly string _root = Directory.CreateTempSubdirectory("distill-powercap-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void Zone(string zone, string name, long energy, long range = Range)
    {
        string folder = Path.Combine(_root, zone);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "name"), name + "\n");
        File.WriteAllText(Path.Combine(folder, "energy_uj"), energy.ToString(CultureInfo.InvariantCulture) + "\n");
        File.WriteAllText(Path.Combine(folder, "max_energy_range_uj"), range.ToString(CultureInfo.InvariantCulture) + "\n");
    }

    [Fact]
    public void Rapl_sums_the_package_domains_and_leaves_out_subzones_and_psys()
    {
        Zone("intel-rapl:0", "package-0", 1_000_000);
        Zone("intel-rapl:1", "package-1", 5_000_000);
        Zone("intel-rapl:0/intel-rapl:0:0", "core", 0);
        Zone("intel-rapl:2", "psys", 0);
        var meter = Assert.IsType<RaplMeter>(EnergyMeter.Create(_root));
        meter.Start();
        Zone("intel-rapl:0", "package-0", 3_500_000);
        Zone("intel-rapl:1", "package-1", 6_000_000);
        Zone("intel-rapl:0/intel-rapl:0:0", "core", 99_000_000);
        Zone("intel-rapl:2", "psys", 99_000_000);
        Assert.Equal(new EnergyReading(3.5, "measured:rapl"), meter.Stop()); // 2.5 J + 1 J
    }

    [Fact]
    public void A_counter_that_wraps_during_the_measurement_counts_across_the_wrap()
    {
        Zone("intel-rapl:0", "package-0", Range - 1_000);
        var meter = EnergyMeter.Create(_root);
        meter.Start();
        Zone("intel-rapl:0", "package-0", 500);
        Assert.Equal(1_500e-6, meter.Stop().Joules, 12);
    }

    [Fact]
    public void Without_a_readable_package_counter_the_estimate_from_cpu_time_is_used_and_labelled()
    {
        Zone("intel-rapl:0", "package-0", 1);
        File.Delete(Path.Combine(_root, "intel-rapl:0", "energy_uj")); // as when it is readable by root only
        var meter = Assert.IsType<CpuTimeMeter>(EnergyMeter.Create(_root, wattsPerCore: 20));
        meter.Start();
        var process = System.Diagnostics.Process.GetCurrentProcess();
        var before = process.TotalProcessorTime;
        double sink = 0;
        for (int i = 0; i < 30_000_000; i++)
            sink += Math.Sqrt(i);
        process.Refresh();
        double cpuSeconds = (process.TotalProcessorTime - before).TotalSeconds;
        var reading = meter.Stop();
        Assert.True(sink > 0);
        Assert.Equal("estimated:cpu-time", reading.Method);
        // 20 W per busy core × the CPU seconds the loop took (other threads of the test host add a little).
        Assert.InRange(reading.Joules, 20 * cpuSeconds * 0.9, 20 * cpuSeconds * 1.5 + 0.2);
        Assert.Null(RaplMeter.TryOpen(Path.Combine(_root, "missing")));
    }
}
