namespace Distill.Benchmarks;

/// <summary>Timings of one KD epoch, in seconds, and what the epoch produced (to check that two
/// loops did the same work).</summary>
/// <param name="LoopSeconds">The optimiser steps only.</param>
/// <param name="EpochSeconds">Steps plus the validation pass: the figure the benchmarks compare.</param>
public sealed record EpochTiming(int Epoch, double LoopSeconds, double EpochSeconds, double TrainLoss, double ValidationAccuracy);
