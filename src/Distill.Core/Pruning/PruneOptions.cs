namespace Distill.Core.Pruning;

/// <summary>global: one threshold across all selected layers; layer: every layer to the same sparsity.</summary>
public enum PruneRanking { Global, Layer }

public enum ChannelNorm { L1, L2 }

/// <summary>one_shot: prune to the target at the start step; gradual: the cubic schedule
/// s_t = s_f + (s_i − s_f)(1 − (t − t0)/T)^3 (Zhu &amp; Gupta, 2017), masks updated every few steps.</summary>
public enum PruneSchedule { OneShot, Gradual }

/// <summary>A glob over parameter names (block1.conv.weight, head.fc0.weight): * any run of characters,
/// ? one character. <see cref="Where"/> is where it was written ("recipe.yaml:31:9"), for error messages.</summary>
public sealed record LayerPattern(string Glob, string? Where = null);

/// <summary>Layers matching <see cref="Glob"/> are pruned (layer-wise) to their own sparsity.</summary>
public sealed record LayerSparsity(string Glob, double Sparsity, string? Where = null);

/// <summary>The prune section of a student stage.</summary>
public sealed record PruneOptions
{
    public PruneMethod Method { get; init; } = PruneMethod.Magnitude;
    public PruneRanking Ranking { get; init; } = PruneRanking.Global;
    public ChannelNorm Norm { get; init; } = ChannelNorm.L1;

    /// <summary>Final fraction of weights (magnitude) or channels (channel) that are zero, in [0, 1).
    /// Not used by n_m, whose sparsity is 1 − N/M.</summary>
    public double Sparsity { get; init; } = 0.5;

    /// <summary>gradual: s_i, the sparsity the schedule starts from.</summary>
    public double InitialSparsity { get; init; }

    public int N { get; init; } = 2;
    public int M { get; init; } = 4;

    public PruneSchedule Schedule { get; init; } = PruneSchedule.OneShot;

    /// <summary>Epoch (fractions allowed) of the stage at which pruning starts; one_shot prunes there.</summary>
    public double StartEpoch { get; init; }

    /// <summary>gradual: epoch by which the final sparsity is reached; null = the end of the stage.</summary>
    public double? EndEpoch { get; init; }

    /// <summary>gradual: optimiser steps between mask updates.</summary>
    public int UpdateEvery { get; init; } = 50;

    /// <summary>Which layers to prune; empty = every conv and linear weight the method can prune.</summary>
    public IReadOnlyList<LayerPattern> Layers { get; init; } = [];
    public IReadOnlyList<LayerPattern> Exclude { get; init; } = [];

    /// <summary>Leave the model's first and last conv/linear weights dense.</summary>
    public bool KeepFirstLastDense { get; init; } = true;

    public IReadOnlyList<LayerSparsity> Overrides { get; init; } = [];

    /// <summary>channel: after the stage, rebuild the student without its pruned channels.</summary>
    public bool Shrink { get; init; }

    /// <summary>Where the section was written ("recipe.yaml:28:5"), for error messages; null when built in code.</summary>
    public string? Where { get; init; }

    /// <summary>Throws <see cref="InvalidInputException"/> naming the section and the first value out of range. What
    /// needs the model (patterns, N:M fitting the layers) is checked by <see cref="LayerSelection"/>.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Layers);
        ArgumentNullException.ThrowIfNull(Exclude);
        ArgumentNullException.ThrowIfNull(Overrides);
        string where = $"{Where ?? "prune"}: ";
        var fraction = new ValueRange(0, Max: 1, MaxExclusive: true);
        if (!fraction.Contains(Sparsity) || !fraction.Contains(InitialSparsity))
            throw new InvalidInputException($"{where}sparsity and initial_sparsity must be {fraction}, got {ValueRange.Format(Sparsity)} and {ValueRange.Format(InitialSparsity)}.");
        if (Overrides.FirstOrDefault(o => !fraction.Contains(o.Sparsity)) is { } bad)
            throw new InvalidInputException($"{bad.Where ?? where.TrimEnd(' ', ':')}: the sparsity of '{bad.Glob}' must be {fraction}, got {ValueRange.Format(bad.Sparsity)}.");
        if (N < 1 || M < 2 || N >= M)
            throw new InvalidInputException($"{where}N:M needs 1 <= n < m, got {N}:{M}.");
        if (UpdateEvery < 1)
            throw new InvalidInputException($"{where}update_every must be at least 1, got {UpdateEvery}.");
        if (!(StartEpoch >= 0) || EndEpoch is { } end && !(end > StartEpoch))
            throw new InvalidInputException($"{where}start_epoch must be >= 0 and end_epoch after it, got {ValueRange.Format(StartEpoch)} and {(EndEpoch is { } e ? ValueRange.Format(e) : "none")}.");
    }
}
