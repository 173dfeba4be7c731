namespace Distill.Core.Training;

/// <summary>Where a phase is at one optimiser step. Steps are counted from the phase's start (local)
/// and across all phases of the same model (global, the metric step).</summary>
public sealed record StepContext(int Epoch, long LocalStep, long GlobalStep, long StepsPerEpoch, long TotalSteps);

/// <summary>The end of an epoch, after validation.</summary>
public sealed record EpochContext(int Epoch, int MetricEpoch);

/// <summary>Something that acts on the model around the optimiser steps of a phase: pruning masks today,
/// fake-quant observers later. Every method has a no-op default, so a hook implements only what it needs.
/// Hooks run in list order. The two optimiser-step methods run inside the step's dispose scope; BeforeStep
/// and EpochEnd do not, so a hook that makes temporaries there opens its own scope.</summary>
public interface IStepHook
{
    /// <summary>Before the forward pass of a step (schedules update their masks or observers here).</summary>
    void BeforeStep(StepContext step)
    {
    }

    /// <summary>After backward, before gradient clipping and the optimiser step: gradients are in place.</summary>
    void BeforeOptimizerStep(StepContext step)
    {
    }

    void AfterOptimizerStep(StepContext step)
    {
    }

    /// <summary>Metrics to log for the epoch (the phase's metric prefix is added by the trainer).</summary>
    IReadOnlyDictionary<string, double> EpochEnd(EpochContext epoch) => new Dictionary<string, double>();
}
