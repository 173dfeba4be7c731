namespace Distill.Benchmarks;

public static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
            throw new ArgumentException("no values", nameof(values));
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>Warms up each side once, then runs them alternately (A B A B …) so that drifting
    /// machine load hits both alike.</summary>
    public static (List<T> A, List<T> B) Alternate<T>(Func<T> a, Func<T> b, int repetitions, Action<string>? log = null)
    {
        log?.Invoke("warm-up A");
        a();
        log?.Invoke("warm-up B");
        b();
        var resultsA = new List<T>();
        var resultsB = new List<T>();
        for (int i = 0; i < repetitions; i++)
        {
            resultsA.Add(a());
            log?.Invoke($"rep {i + 1}/{repetitions} A: {resultsA[^1]}");
            resultsB.Add(b());
            log?.Invoke($"rep {i + 1}/{repetitions} B: {resultsB[^1]}");
        }
        return (resultsA, resultsB);
    }
}
