namespace Distill.Core.Pruning;

/// <summary>magnitude: unstructured, smallest |w| first. channel: whole output channels (conv filters,
/// hidden units of the head) by their norm. n_m: keep the N largest of every M consecutive weights
/// along the input dimension.</summary>
public enum PruneMethod { Magnitude, Channel, NM }

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
}
