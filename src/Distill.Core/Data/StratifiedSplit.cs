namespace Distill.Core.Data;

/// <summary>Class-stratified, seeded selection of sample indices.</summary>
internal static class StratifiedSplit
{
    /// <summary>Picks <paramref name="count"/> indices so that every class contributes in
    /// proportion to its size (largest-remainder rounding, so each class is within one sample of
    /// its exact share and the total is exact), chosen at random within each class. Both
    /// returned arrays are sorted ascending.</summary>
    public static (long[] Picked, long[] Others) Pick(long[] labels, long count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, labels.LongLength);
        var byClass = new SortedDictionary<long, List<long>>();
        for (long i = 0; i < labels.LongLength; i++)
        {
            if (!byClass.TryGetValue(labels[i], out var members))
            {
                byClass[labels[i]] = members = [];
            }
            members.Add(i);
        }

        var classes = byClass.Keys.ToArray();
        var quota = new long[classes.Length];
        var remainder = new double[classes.Length];
        long assigned = 0;
        for (int k = 0; k < classes.Length; k++)
        {
            double exact = (double)byClass[classes[k]].Count * count / labels.LongLength;
            quota[k] = (long)Math.Floor(exact);
            remainder[k] = exact - quota[k];
            assigned += quota[k];
        }
        // Hand out the samples lost to flooring, largest remainder first, ties to the lower class.
        foreach (int k in Enumerable.Range(0, classes.Length).OrderByDescending(k => remainder[k]).ThenBy(k => k).Take((int)(count - assigned)))
        {
            quota[k]++;
        }

        var random = new Random(seed);
        var picked = new List<long>((int)count);
        var rest = new List<long>((int)(labels.LongLength - count));
        for (int k = 0; k < classes.Length; k++)
        {
            var members = byClass[classes[k]].ToArray();
            BatchSampler.Shuffle(members, random);
            picked.AddRange(members.Take((int)quota[k]));
            rest.AddRange(members.Skip((int)quota[k]));
        }
        picked.Sort();
        rest.Sort();
        return (picked.ToArray(), rest.ToArray());
    }

    /// <summary>Derives independent seeds for the different selections made from one run seed.</summary>
    public static int DeriveSeed(int seed, int stream)
    {
        // SplitMix64 finaliser: stable across processes, unlike HashCode.Combine.
        ulong z = unchecked(((ulong)(uint)seed << 32 | (uint)stream) + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)(z ^ (z >> 31));
    }
}
