using static TorchSharp.torch;

namespace Distill.Core.Quantization;

/// <summary>Clips each tail at a percentile of the values seen: [P(100 − p), P(p)], read from a histogram
/// and interpolated within the bin. Robust to a few outliers, at the price of clipping them.</summary>
public sealed class PercentileObserver : IObserver
{
    private readonly Histogram _histogram;

    public PercentileObserver(double percentile = 99.99, int bins = 2048)
    {
        if (!(percentile > 50 && percentile <= 100))
        {
            throw new InvalidInputException($"observer percentile must be in (50, 100], got {percentile}.");
        }
        Percentile = percentile;
        _histogram = new Histogram(bins, fromZero: false);
    }

    public double Percentile { get; }
    public bool HasObserved => !_histogram.IsEmpty;
    public void Observe(Tensor x) => _histogram.Add(x);
    public void Reset() => _histogram.Clear();

    public QRange ComputeRange()
    {
        if (_histogram.IsEmpty)
        {
            throw new InvalidOperationException("the percentile observer has observed nothing");
        }
        double fraction = Percentile / 100;
        double lo = Math.Max(_histogram.Min, _histogram.Quantile(1 - fraction));
        double hi = Math.Min(_histogram.Max, _histogram.Quantile(fraction));
        return QRange.Single((float)lo, (float)hi);
    }
}

/// <summary>TensorRT's entropy calibration: a histogram of |x|; for each candidate count i of kept bins
/// the reference distribution P (the first i bins, with everything beyond folded into the last) is
/// compared with Q (the same i bins merged into as many bins as the integer grid has levels on one
/// side, then spread back over the bins that were non-empty); the i with the smallest KL(P‖Q) gives
/// the threshold (i + 0.5)·binWidth. The range is [−t, t], cut to the values seen. Bin 0 is given the
/// count of bin 1 for the search, so that a spike of exact zeros (after a ReLU) does not decide it.</summary>
public sealed class EntropyObserver : IObserver
{
    private readonly Histogram _histogram;

    public EntropyObserver(QuantScheme scheme, int bins = 2048)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        Scheme = scheme;
        _histogram = new Histogram(bins, fromZero: true);
    }

    public QuantScheme Scheme { get; }
    public bool HasObserved => !_histogram.IsEmpty;
    private double _min;
    private double _max;

    public void Observe(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var values = x.detach().to_type(ScalarType.Float32);
        var (lo, hi) = values.aminmax(null, false);
        bool first = _histogram.IsEmpty;
        _histogram.Add(values.abs());
        _min = first ? lo.item<float>() : Math.Min(_min, lo.item<float>());
        _max = first ? hi.item<float>() : Math.Max(_max, hi.item<float>());
    }

    public void Reset() => _histogram.Clear();

    /// <summary>The number of integer levels that cover [0, t]: all of them when the data has one sign
    /// and the scheme is asymmetric (a ReLU output in uint8 uses all 256), half of them otherwise (int8: 128).</summary>
    public int QuantizedBins => (int)(Scheme.Symmetric || _min < 0 ? Scheme.Levels / 2 : Scheme.Levels);

    public QRange ComputeRange()
    {
        if (_histogram.IsEmpty)
        {
            throw new InvalidOperationException("the entropy observer has observed nothing");
        }
        // The exact zeros a ReLU produces pile up in bin 0; left in, that spike dominates the divergence
        // as soon as bins are merged and drags the threshold down to 2·levels bins. Like NVIDIA's
        // TensorRT calibration tools, give bin 0 the count of bin 1 for the search.
        var counts = (double[])_histogram.Counts.Clone();
        counts[0] = counts[1];
        int kept = BestBinCount(counts, Math.Min(QuantizedBins, _histogram.Bins));
        double threshold = Math.Min((kept + 0.5) * _histogram.Width, _histogram.Hi);
        return QRange.Single((float)Math.Max(_min, -threshold), (float)Math.Min(_max, threshold));
    }

    /// <summary>The number of leading bins whose quantisation to <paramref name="levels"/> levels loses the least information.</summary>
    internal static int BestBinCount(double[] histogram, int levels)
    {
        int bins = histogram.Length;
        var beyond = new double[bins + 1];
        for (int b = bins - 1; b >= 0; b--)
        {
            beyond[b] = beyond[b + 1] + histogram[b];
        }
        var p = new double[bins];
        var q = new double[bins];
        double best = double.PositiveInfinity;
        int bestCount = bins;
        for (int i = levels; i <= bins; i++)
        {
            Array.Copy(histogram, p, i);
            p[i - 1] += beyond[i];
            int merged = i / levels;
            for (int j = 0; j < levels; j++)
            {
                int start = j * merged;
                int stop = j == levels - 1 ? i : start + merged;
                double sum = 0;
                int nonEmpty = 0;
                for (int k = start; k < stop; k++)
                {
                    sum += histogram[k];
                    nonEmpty += histogram[k] != 0 ? 1 : 0;
                }
                for (int k = start; k < stop; k++)
                {
                    q[k] = histogram[k] != 0 ? sum / nonEmpty : 0;
                }
            }
            double divergence = KlDivergence(p, q, i);
            if (divergence < best)
            {
                best = divergence;
                bestCount = i;
            }
        }
        return bestCount;
    }

    /// <summary>KL(P‖Q) of the first <paramref name="n"/> entries after normalising both. Bins where P has
    /// mass and Q has none (the folded-in outliers can land on an empty bin) get a small floor in Q,
    /// as the usual smoothing does, so that such candidates are penalised instead of infinite.</summary>
    private static double KlDivergence(double[] p, double[] q, int n)
    {
        double pSum = 0, qSum = 0;
        for (int k = 0; k < n; k++)
        {
            pSum += p[k];
            qSum += q[k];
        }
        if (pSum == 0 || qSum == 0)
        {
            return double.PositiveInfinity;
        }
        const double floor = 1e-4;
        double divergence = 0;
        for (int k = 0; k < n; k++)
        {
            if (p[k] == 0)
            {
                continue;
            }
            double pk = p[k] / pSum;
            double qk = Math.Max(q[k], floor) / qSum;
            divergence += pk * Math.Log(pk / qk);
        }
        return divergence;
    }
}

/// <summary>Searches the clipping range that minimises the expected squared error of fake-quantising
/// the values seen: candidates [α·min, α·max] for α = 1/100 … 100/100, the error summed over histogram
/// bins (count × (centre − fq(centre))²), which counts both rounding and clipping error.</summary>
public sealed class MseObserver : IObserver
{
    private const int Candidates = 100;
    private readonly Histogram _histogram;

    public MseObserver(QuantScheme scheme, int bins = 2048)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        Scheme = scheme;
        _histogram = new Histogram(bins, fromZero: false);
    }

    public QuantScheme Scheme { get; }
    public bool HasObserved => !_histogram.IsEmpty;
    public void Observe(Tensor x) => _histogram.Add(x);
    public void Reset() => _histogram.Clear();

    public QRange ComputeRange()
    {
        if (_histogram.IsEmpty)
        {
            throw new InvalidOperationException("the MSE observer has observed nothing");
        }
        double best = double.PositiveInfinity;
        QRange bestRange = QRange.Single((float)_histogram.Min, (float)_histogram.Max);
        for (int k = Candidates; k >= 1; k--)
        {
            double alpha = (double)k / Candidates;
            var range = QRange.Single((float)(_histogram.Min * alpha), (float)(_histogram.Max * alpha));
            double error = ExpectedSquaredError(QParams.FromRange(Scheme, range));
            if (error < best)
            {
                best = error;
                bestRange = range;
            }
        }
        return bestRange;
    }

    /// <summary>Σ over bins of count × (centre − fq(centre))², the centre standing for the bin's values.</summary>
    internal double ExpectedSquaredError(QParams qparams)
    {
        double scale = qparams.Scale[0];
        double zero = qparams.ZeroPoint[0];
        long qmin = Scheme.QMin, qmax = Scheme.QMax;
        double error = 0;
        for (int b = 0; b < _histogram.Bins; b++)
        {
            double count = _histogram.Counts[b];
            if (count == 0)
            {
                continue;
            }
            double x = _histogram.Centre(b);
            double q = Math.Clamp(Math.Round(x / scale, MidpointRounding.ToEven) + zero, qmin, qmax);
            double diff = x - (q - zero) * scale;
            error += count * diff * diff;
        }
        return error;
    }
}
