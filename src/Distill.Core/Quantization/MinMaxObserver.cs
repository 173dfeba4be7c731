using static TorchSharp.torch;

namespace Distill.Core.Quantization;

/// <summary>The smallest and largest value seen, per tensor or per channel along an axis.</summary>
public sealed class MinMaxObserver(int? channelAxis = null) : IObserver
{
    private float[]? _min;
    private float[]? _max;

    public int? ChannelAxis { get; } = channelAxis;
    public bool HasObserved => _min is not null;

    public void Observe(Tensor x)
    {
        var (min, max) = BatchRange.Of(x, ChannelAxis);
        if (_min is null || _max is null)
        {
            (_min, _max) = (min, max);
            return;
        }
        BatchRange.RequireSameChannels(_min.Length, min.Length);
        for (int i = 0; i < min.Length; i++)
        {
            _min[i] = Math.Min(_min[i], min[i]);
            _max[i] = Math.Max(_max[i], max[i]);
        }
    }

    public QRange ComputeRange() => _min is null || _max is null
        ? throw new InvalidOperationException("the min-max observer has observed nothing")
        : new QRange((float[])_min.Clone(), (float[])_max.Clone());

    public void Reset() => (_min, _max) = (null, null);
}

/// <summary>Exponential moving average of each batch's minimum and maximum (the first batch starts it):
/// min ← min + momentum·(batchMin − min). Less sensitive to a single outlying batch than min-max.</summary>
public sealed class MovingAverageMinMaxObserver : IObserver
{
    private double[]? _min;
    private double[]? _max;

    public MovingAverageMinMaxObserver(double momentum = 0.01, int? channelAxis = null)
    {
        if (!(momentum > 0 && momentum <= 1))
        {
            throw new InvalidInputException($"observer momentum must be in (0, 1], got {momentum}.");
        }
        Momentum = momentum;
        ChannelAxis = channelAxis;
    }

    public double Momentum { get; }
    public int? ChannelAxis { get; }
    public bool HasObserved => _min is not null;

    public void Observe(Tensor x)
    {
        var (min, max) = BatchRange.Of(x, ChannelAxis);
        if (_min is null || _max is null)
        {
            _min = min.Select(v => (double)v).ToArray();
            _max = max.Select(v => (double)v).ToArray();
            return;
        }
        BatchRange.RequireSameChannels(_min.Length, min.Length);
        for (int i = 0; i < min.Length; i++)
        {
            _min[i] += Momentum * (min[i] - _min[i]);
            _max[i] += Momentum * (max[i] - _max[i]);
        }
    }

    public QRange ComputeRange() => _min is null || _max is null
        ? throw new InvalidOperationException("the moving-average min-max observer has observed nothing")
        : new QRange(_min.Select(v => (float)v).ToArray(), _max.Select(v => (float)v).ToArray());

    public void Reset() => (_min, _max) = (null, null);
}

internal static class BatchRange
{
    /// <summary>Minimum and maximum of <paramref name="x"/>, overall (arrays of one) or per slice along <paramref name="axis"/>.</summary>
    public static (float[] Min, float[] Max) Of(Tensor x, int? axis)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.numel() == 0)
        {
            throw new ArgumentException("cannot observe an empty tensor");
        }
        using var scope = NewDisposeScope();
        var values = x.detach().to_type(ScalarType.Float32);
        if (axis is int a)
        {
            if (a >= values.dim())
            {
                throw new ArgumentException($"channel axis {a} is out of range for a tensor of shape [{string.Join(",", x.shape)}]");
            }
            values = values.transpose(0, a).flatten(1);
            var (min, max) = values.aminmax(1, false);
            return (min.cpu().data<float>().ToArray(), max.cpu().data<float>().ToArray());
        }
        var (lo, hi) = values.aminmax(null, false);
        return ([lo.item<float>()], [hi.item<float>()]);
    }

    public static void RequireSameChannels(int expected, int actual)
    {
        if (expected != actual)
        {
            throw new ArgumentException($"the observer saw {expected} channels before and {actual} now");
        }
    }
}
