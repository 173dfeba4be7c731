using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

/// <summary>Where the figures come from. Load averages before and after show how busy the machine was.</summary>
public sealed record MachineInfo(
    int Nproc,
    int TorchThreads,
    int TorchInteropThreads,
    string Cpu,
    string Os,
    string Runtime,
    string TorchSharp,
    string StartedUtc,
    string LoadAverageAtStart)
{
    public string? LoadAverageAtEnd { get; set; }

    public static MachineInfo Capture() => new(
        Environment.ProcessorCount,
        get_num_threads(),
        get_num_interop_threads(),
        CpuModel(),
        RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription,
        typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown",
        DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        LoadAverage());

    /// <summary>The 1, 5 and 15 minute load averages from /proc/loadavg, or "n/a" off Linux.</summary>
    public static string LoadAverage()
    {
        const string path = "/proc/loadavg";
        if (!File.Exists(path))
            return "n/a";
        var parts = File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return string.Join(" ", parts.Take(3));
    }

    private static string CpuModel()
    {
        const string path = "/proc/cpuinfo";
        if (!File.Exists(path))
            return RuntimeInformation.ProcessArchitecture.ToString();
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':') + 1)..].Trim();
    }
}
