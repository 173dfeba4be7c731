using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Distill.Core.Export.Onnx;

/// <summary>Wall-clock time of one session run, over <see cref="Runs"/> timed runs. <see cref="Energy"/>, when a meter was
/// given, is that of <see cref="EnergyRuns"/> further runs.</summary>
public sealed record OnnxLatencyResult(double MedianMs, double MinMs, double MaxMs, double P90Ms, int Batch, int Runs, int Threads,
    Energy.EnergyReading? Energy = null, int EnergyRuns = 0)
{
    /// <summary>Millijoules per sample (a batch of 64 is 64 inferences).</summary>
    public double? MillijoulesPerInference => Energy is { } e && EnergyRuns > 0 ? e.Joules * 1000 / ((double)EnergyRuns * Batch) : null;
}

/// <summary>Measures the latency of an ONNX file in ONNX Runtime on random inputs of its input shape.</summary>
public static class OnnxLatency
{
    public static readonly TimeSpan EnergySeconds = TimeSpan.FromSeconds(1);

    /// <param name="cancel">Checked before every run.</param>
    /// <param name="energy">Measures further runs, for at least <see cref="EnergySeconds"/>: a meter reads too coarsely
    /// (CPU time in scheduler ticks, RAPL in about 1 ms updates) for the timed runs of a small model.</param>
    public static OnnxLatencyResult Measure(string path, int batch, int warmup, int runs, int threads, CancellationToken cancel = default,
        Energy.EnergyMeter? energy = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(runs);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        using var session = OnnxRuntimeRunner.OpenSession(path, threads);
        var (inputName, metadata) = session.InputMetadata.First();
        long[] shape = metadata.Dimensions.Select((d, i) => i == 0 ? batch : (long)d).ToArray();
        if (shape.Skip(1).Any(d => d <= 0))
        {
            throw new InvalidInputException($"ONNX model '{path}': input '{inputName}' has a dynamic dimension besides the batch: [{string.Join(",", metadata.Dimensions)}].");
        }
        long size = shape.Aggregate(1L, (a, b) => a * b);
        var random = new Random(0);
        var values = new float[size];
        for (long i = 0; i < size; i++)
        {
            values[i] = random.NextSingle();
        }
        using var input = metadata.ElementDataType == TensorElementType.Float16
            ? OrtValue.CreateTensorValueFromMemory(values.Select(v => (Float16)v).ToArray(), shape)
            : OrtValue.CreateTensorValueFromMemory(values, shape);
        string outputName = session.OutputMetadata.Keys.First();
        using var runOptions = new RunOptions();

        for (int i = 0; i < warmup; i++)
        {
            cancel.ThrowIfCancellationRequested();
            using var _ = session.Run(runOptions, [inputName], [input], [outputName]);
        }
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            cancel.ThrowIfCancellationRequested();
            long start = Stopwatch.GetTimestamp();
            using (session.Run(runOptions, [inputName], [input], [outputName]))
            {
                times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }
        Energy.EnergyReading? used = null;
        int energyRuns = 0;
        if (energy is not null)
        {
            energy.Start();
            long start = Stopwatch.GetTimestamp();
            while (energyRuns < runs || Stopwatch.GetElapsedTime(start) < EnergySeconds)
            {
                cancel.ThrowIfCancellationRequested();
                using var _ = session.Run(runOptions, [inputName], [input], [outputName]);
                energyRuns++;
            }
            used = energy.Stop();
        }
        Array.Sort(times);
        return new OnnxLatencyResult(Percentile(times, 0.5), times[0], times[^1], Percentile(times, 0.9), batch, runs, threads, used, energyRuns);
    }

    /// <summary>Linear interpolation between the closest ranks of sorted values.</summary>
    private static double Percentile(double[] sorted, double p)
    {
        double rank = p * (sorted.Length - 1);
        int low = (int)Math.Floor(rank);
        int high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (rank - low) * (sorted[high] - sorted[low]);
    }
}
