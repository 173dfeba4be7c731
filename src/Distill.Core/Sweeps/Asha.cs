using System.Globalization;

namespace Distill.Core.Sweeps;

/// <summary>
/// Asynchronous successive halving (ASHA, Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning"), in its
/// stopping form: rungs at epochs g, g·η, g·η², … (g the grace epochs, η the reduction factor). The first time a trial
/// reports a value at or past a rung, it is compared with the values other trials recorded at that rung before it: below
/// their (1 − 1/η) quantile (linear interpolation; above it when smaller is better) it is stopped, otherwise it goes on,
/// and its value is recorded. The first trial at a rung always goes on. Decisions never wait for other trials, so no
/// worker idles.
/// </summary>
public sealed class Asha
{
    private readonly int _grace;
    private readonly int _reduction;
    private readonly bool _maximize;
    /// <summary>Per rung epoch: the value each trial recorded there.</summary>
    private readonly SortedDictionary<long, Dictionary<int, double>> _rungs = [];

    public Asha(int graceEpochs, int reduction, bool maximize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(graceEpochs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(reduction, 2);
        (_grace, _reduction, _maximize) = (graceEpochs, reduction, maximize);
        for (long rung = graceEpochs; rung <= 1_000_000; rung *= reduction)
            _rungs[rung] = [];
    }

    /// <summary>A trial's value after <paramref name="epoch"/> epochs; returns why it must stop, or null to go on.</summary>
    public string? Report(int trial, long epoch, double value)
    {
        // The highest rung reached that this trial has not been judged at yet.
        var rung = _rungs.Where(r => r.Key <= epoch && !r.Value.ContainsKey(trial)).Select(r => (long?)r.Key).LastOrDefault();
        if (rung is not { } at || double.IsNaN(value))
            return null;
        var recorded = _rungs[at];
        double? cutoff = Cutoff(recorded.Values.ToList());
        recorded[trial] = value;
        if (cutoff is not { } c || (_maximize ? value >= c : value <= c))
            return null;
        string better = _maximize ? "below" : "above";
        return string.Create(CultureInfo.InvariantCulture,
            $"stopped early by ASHA at epoch {at}: {value:G4} is {better} the cutoff {c:G4} of the {recorded.Count - 1} trial(s) that reached that epoch before it (top 1/{_reduction} go on)");
    }

    /// <summary>The value a trial must reach to go on: the (1 − 1/η) quantile of the recorded values (the 1/η quantile
    /// when smaller is better); null when nothing is recorded yet.</summary>
    private double? Cutoff(List<double> recorded)
    {
        if (recorded.Count == 0)
            return null;
        recorded.Sort();
        double q = _maximize ? 1 - 1.0 / _reduction : 1.0 / _reduction;
        double position = q * (recorded.Count - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, recorded.Count - 1);
        return recorded[below] + (recorded[above] - recorded[below]) * (position - below);
    }
}
