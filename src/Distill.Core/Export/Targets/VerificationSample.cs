using Distill.Core.Data;

namespace Distill.Core.Export.Targets;

/// <summary>How far an export has got in running its verification samples in the runtime.</summary>
public sealed record VerificationProgress(string Target, string Runtime, long Done, long Total, TimeSpan Elapsed);

/// <summary>Which test samples an export is verified and measured on, and how sure its measured accuracy is.
///
/// Each format's default is its <see cref="ExportBackend.DefaultVerifySamples"/>. ONNX Runtime runs the whole test
/// split in a second, so it gets all of it. Arm NN's portable reference backend
/// (the only one on x86) takes about 38 ms per sample: 6.5 minutes for Fashion-MNIST's 10,000 test images, longer
/// than training the student. There the default is a stratified, seeded random sample of 1,000: the agreement with
/// the fake-quant student is still checked on every sample run (a broken lowering disagrees on far more than 1 %),
/// and the accuracy of about 90 % is known to ±1.9 points (95 % Wilson interval), against ±0.6 on all 10,000. The
/// student's accuracy on the whole split is measured anyway, through its fake-quant view, as student/test_acc.</summary>
public static class VerificationSample
{
    /// <summary>Every test sample.</summary>
    public const long All = long.MaxValue;

    /// <summary>z of a two-sided 95 % interval: Φ⁻¹(0.975).</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>Stream of <see cref="StratifiedSplit.DeriveSeed"/> for this selection (the data loader uses 1 to 4).</summary>
    private const int SeedStream = 5;

    /// <summary>The indices (ascending) of <paramref name="count"/> samples chosen at random within each class, each class
    /// in proportion to its share of <paramref name="labels"/>; all of them when <paramref name="count"/> is not smaller.</summary>
    public static long[] Pick(long[] labels, long count, int seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return count >= labels.LongLength
            ? [.. Enumerable.Range(0, labels.Length).Select(i => (long)i)]
            : StratifiedSplit.Pick(labels, count, StratifiedSplit.DeriveSeed(seed, SeedStream)).Picked;
    }

    /// <summary>The Wilson score interval of a proportion, <paramref name="successes"/> of <paramref name="n"/>:
    ///
    ///     p̂ = k/n,  centre = (p̂ + z²/2n) / (1 + z²/n),  half width = z/(1 + z²/n) · √(p̂(1 − p̂)/n + z²/4n²)
    ///
    /// Unlike p̂ ± z√(p̂(1 − p̂)/n) it stays inside [0, 1] and does not collapse to a point at 0 % or 100 %.</summary>
    public static (double Low, double High) Wilson(long successes, long n, double z = Z95)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(successes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(successes, n);
        double p = (double)successes / n, z2 = z * z;
        double denominator = 1 + z2 / n;
        double centre = (p + z2 / (2.0 * n)) / denominator;
        double half = z / denominator * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }
}
