namespace Distill.Core.Data;

/// <summary>Splits the indices 0..count-1 into batches, optionally shuffled.</summary>
public static class BatchSampler
{
    /// <summary>Same (count, batchSize, shuffle, seed) gives the same batches. The last partial
    /// batch is kept. Pass a different seed per epoch (e.g. seed + epoch) to reshuffle.</summary>
    public static IReadOnlyList<long[]> Batches(long count, int batchSize, bool shuffle, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var order = new long[count];
        for (long i = 0; i < count; i++)
        {
            order[i] = i;
        }
        if (shuffle)
        {
            Shuffle(order, new Random(seed));
        }
        var batches = new List<long[]>((int)((count + batchSize - 1) / batchSize));
        for (long start = 0; start < count; start += batchSize)
        {
            batches.Add(order.AsSpan((int)start, (int)Math.Min(batchSize, count - start)).ToArray());
        }
        return batches;
    }

    /// <summary>Fisher–Yates. System.Random with an explicit seed yields the same sequence on
    /// every platform and .NET version, which is what makes the batches reproducible.</summary>
    internal static void Shuffle<T>(T[] items, Random random)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
