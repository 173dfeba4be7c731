using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Quantization;

/// <summary>A fixed number of equal bins over [Lo, Hi] that widens as new values arrive: when a batch
/// falls outside, the range becomes the union and the old counts are spread onto the new bins in
/// proportion to overlap (values are taken as uniform within a bin).</summary>
internal sealed class Histogram
{
    private readonly bool _fromZero;

    /// <param name="bins">Number of bins.</param>
    /// <param name="fromZero">Keep Lo at 0 (for histograms of |x|).</param>
    public Histogram(int bins, bool fromZero)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 2);
        Counts = new double[bins];
        _fromZero = fromZero;
    }

    public double[] Counts { get; }
    public int Bins => Counts.Length;
    public double Lo { get; private set; }
    public double Hi { get; private set; }
    public double Width => (Hi - Lo) / Bins;
    public double Total { get; private set; }
    public bool IsEmpty => Total == 0;

    /// <summary>Smallest and largest value added (exact, unlike the bin edges).</summary>
    public double Min { get; private set; }
    public double Max { get; private set; }

    public void Add(Tensor values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.numel() == 0)
        {
            throw new ArgumentException("cannot observe an empty tensor");
        }
        using var scope = NewDisposeScope();
        var flat = values.detach().to_type(ScalarType.Float32).flatten();
        var (minT, maxT) = flat.aminmax(null, false);
        double min = minT.item<float>(), max = maxT.item<float>();
        if (!double.IsFinite(min) || !double.IsFinite(max))
        {
            throw new InvalidInputException($"cannot calibrate on non-finite values (range [{min}, {max}]).");
        }
        if (IsEmpty)
        {
            Min = min;
            Max = max;
            Lo = _fromZero ? 0 : min;
            Hi = Math.Max(max, Lo + MinimumSpan(Lo));
        }
        else
        {
            Min = Math.Min(Min, min);
            Max = Math.Max(Max, max);
            if (min < Lo || max > Hi)
            {
                Rebin(Math.Min(Lo, min), Math.Max(Hi, max));
            }
        }
        using var first = 0.ToScalar();
        using var last = (Bins - 1).ToScalar();
        var index = flat.Minus(Lo).Times(Bins / (Hi - Lo)).floor_().clamp_(first, last).to_type(ScalarType.Int64);
        var counts = index.bincount(null, Bins).cpu().data<long>().ToArray();
        for (int b = 0; b < Bins; b++)
        {
            Counts[b] += counts[b];
        }
        Total += flat.numel();
    }

    /// <summary>The value below which <paramref name="fraction"/> of the mass lies, interpolated linearly within its bin.</summary>
    public double Quantile(double fraction)
    {
        if (IsEmpty)
        {
            throw new InvalidOperationException("the histogram is empty");
        }
        double target = Math.Clamp(fraction, 0, 1) * Total;
        double cumulative = 0;
        for (int b = 0; b < Bins; b++)
        {
            double next = cumulative + Counts[b];
            if (next >= target && Counts[b] > 0)
            {
                double within = (target - cumulative) / Counts[b];
                return Lo + (b + within) * Width;
            }
            cumulative = next;
        }
        return Hi;
    }

    /// <summary>Centre of bin <paramref name="b"/>.</summary>
    public double Centre(int b) => Lo + (b + 0.5) * Width;

    public void Clear()
    {
        Array.Clear(Counts);
        Total = 0;
        Lo = Hi = Min = Max = 0;
    }

    private void Rebin(double lo, double hi)
    {
        var old = (double[])Counts.Clone();
        double oldLo = Lo, oldWidth = Width;
        Lo = lo;
        Hi = hi;
        double width = Width;
        Array.Clear(Counts);
        for (int b = 0; b < old.Length; b++)
        {
            if (old[b] == 0)
            {
                continue;
            }
            double start = (oldLo + b * oldWidth - Lo) / width;
            double end = (oldLo + (b + 1) * oldWidth - Lo) / width;
            double span = end - start;
            for (int nb = Math.Max(0, (int)Math.Floor(start)); nb < Bins && nb < end; nb++)
            {
                double overlap = Math.Min(end, nb + 1) - Math.Max(start, nb);
                if (overlap > 0)
                {
                    Counts[nb] += old[b] * overlap / span;
                }
            }
        }
    }

    /// <summary>A positive span for a histogram of constant values, so that bins have a width.</summary>
    private static double MinimumSpan(double at) => Math.Max(Math.Abs(at) * 1e-6, 1e-12);
}
