using static TorchSharp.torch;

namespace Distill.Core.Quantization;

/// <summary>Watches the values a tensor takes (over calibration batches or QAT steps) and proposes the
/// real range its quantisation should cover. State is kept in managed memory, so an observer holds no
/// tensors and needs no disposal.</summary>
public interface IObserver
{
    /// <summary>True once <see cref="Observe"/> has seen at least one tensor since the last <see cref="Reset"/>.</summary>
    bool HasObserved { get; }

    /// <summary>Adds the values of <paramref name="x"/> (read only, never differentiated through).</summary>
    void Observe(Tensor x);

    /// <summary>The range to quantise: one [min, max] per tensor, or one per channel. Throws
    /// <see cref="InvalidOperationException"/> when nothing has been observed.</summary>
    QRange ComputeRange();

    /// <summary>Forgets everything observed.</summary>
    void Reset();
}

public sealed record ObserverOptions
{
    /// <summary>Weight of the newest batch in the moving average (PyTorch's averaging constant).</summary>
    public double Momentum { get; init; } = 0.01;
    /// <summary>Percentile kept by the percentile observer, in (50, 100].</summary>
    public double Percentile { get; init; } = 99.99;
    /// <summary>Histogram bins of the percentile, entropy and MSE observers.</summary>
    public int Bins { get; init; } = 2048;

    /// <summary>Throws <see cref="InvalidInputException"/> naming the first option out of its range (<see cref="Observers.Options"/>).</summary>
    public void Validate()
    {
        Option("percentile").Check(Percentile);
        Option("momentum").Check(Momentum);
        Option("bins").Check(Bins);
    }

    private static OptionSpec Option(string key) => Observers.Options.First(o => o.Key == key);
}
