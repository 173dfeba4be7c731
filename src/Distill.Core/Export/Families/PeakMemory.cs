using System.Globalization;
using Distill.Core.Export.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Distill.Core.Export.Families;

/// <summary>
/// How much a process's resident memory grows at its peak while it loads an ONNX file and runs it: the kernel's
/// high-water mark VmHWM (proc(5)), reset first by writing 5 to /proc/self/clear_refs, minus VmRSS once ONNX Runtime
/// itself is loaded. Meant for a fresh process: in one that ran other models, the allocator reuses their freed pages
/// and the growth reads too low. Null where /proc does not offer this (not Linux, or a kernel before 4.0).
/// </summary>
public static class PeakMemory
{
    public static long? OfOnnxRun(string path, int batch, int threads)
    {
        _ = OrtEnv.Instance(); // the runtime's own memory is not the model's
        long? before;
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            before = StatusKilobytes("VmRSS");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        OnnxLatency.Measure(path, batch, warmup: 0, runs: 10, threads);
        if (before is not long rss || StatusKilobytes("VmHWM") is not long peak)
            return null;
        return Math.Max(0, peak - rss) * 1024;
    }

    private static long? StatusKilobytes(string field)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (!line.StartsWith(field + ":", StringComparison.Ordinal))
                continue;
            string value = line[(field.Length + 1)..].Trim();
            return long.TryParse(value.Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb) ? kb : null;
        }
        return null;
    }
}
