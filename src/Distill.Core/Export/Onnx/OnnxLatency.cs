using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Distill.Core.Export.Onnx;

/// <summary>Wall-clock time of one session run, over <see cref="Runs"/> timed runs.</summary>
public sealed record OnnxLatencyResult(double MedianMs, double MinMs, double MaxMs, double P90Ms, int Batch, int Runs, int Threads);

/// <summary>Measures the latency of an ONNX file in ONNX Runtime on random inputs of its input shape.</summary>
public static class OnnxLatency
{
    /// <param name="cancel">Checked before every run.</param>
    public static OnnxLatencyResult Measure(string path, int batch, int warmup, int runs, int threads, CancellationToken cancel = default)
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
        Array.Sort(times);
        return new OnnxLatencyResult(Percentile(times, 0.5), times[0], times[^1], Percentile(times, 0.9), batch, runs, threads);
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
