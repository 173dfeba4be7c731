using System.Diagnostics;
using Distill.Core.Data;
using Distill.Core.Tracking;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>What a model family does inside the epochs of one phase: the loss of a batch and the end-of-epoch
/// validation. Built when the phase starts (a teacher-output cache is built then) and disposed when it ends.</summary>
public interface IPhaseSteps : IDisposable
{
    /// <summary>Training samples (images, rows or token windows) per epoch.</summary>
    long TrainCount { get; }

    /// <summary>Puts the modules in training mode (the teacher in eval mode) and seeds the epoch's own generators.</summary>
    void BeginEpoch(int epochSeed);

    /// <summary>The loss of the samples <paramref name="indices"/>: the batch on the model's device, teacher outputs
    /// (live or cached), the student's forward and the composed loss. Tensors belong to the caller's dispose scope.</summary>
    Tensor Loss(long[] indices);

    /// <summary>Validates the model and logs the epoch's figures (train/loss first) under <paramref name="prefix"/>.</summary>
    EpochValidation EndEpoch(EpochFigures epoch, CancellationToken cancel);
}

/// <summary>An epoch's training figures: <paramref name="Clock"/> started with its first step and still runs.</summary>
public sealed record EpochFigures(ITracker Tracker, string Prefix, int MetricEpoch, double TrainLoss, long Samples, Stopwatch Clock);

/// <summary>What validation found: the value early stopping watches (<paramref name="HigherIsBetter"/> says which
/// way is better), the throughput to report, and the figure the progress line shows.</summary>
public sealed record EpochValidation(double StopValue, bool HigherIsBetter, double SamplesPerSecond,
    double? Accuracy = null, double? BitsPerByte = null);

/// <summary>One phase's training for <see cref="EpochTrainer"/>: the stage, the metric prefix, the hooks and the
/// parameters that are trained (those gradient clipping bounds).</summary>
public sealed record EpochPlan(string Name, int Index, StageOptions Stage, string MetricPrefix, IReadOnlyList<IStepHook> Hooks,
    IReadOnlyList<Parameter> Parameters);

/// <summary>Runs the epochs of one phase for every model family: shuffled batches, learning-rate schedule, step
/// hooks, loss and optimiser step, NaN guard, step metrics and progress, validation, early stop, and a checkpoint
/// callback after every epoch. Epochs reseed from <see cref="EpochSeed"/>, so a resumed phase replays exactly.</summary>
public sealed class EpochTrainer(int seed, ITracker tracker, IProgress<TrainingProgress>? progress)
{
    /// <summary>Seed of everything random in one epoch (batch order, dropout, augmentation), derived
    /// from the run seed so that an epoch replays identically after a resume.</summary>
    public static int EpochSeed(int seed, int phase, int epoch) =>
        unchecked((int)(((uint)seed * 1_000_003u) ^ ((uint)phase * 10_007u) ^ ((uint)epoch * 101u)));

    public static long StepsPerEpoch(long samples, int batchSize) => (samples + batchSize - 1) / batchSize;

    public PhaseState Run(EpochPlan plan, IPhaseSteps steps, optim.Optimizer optimizer, PhaseState state,
        Action<PhaseState> afterEpoch, CancellationToken cancel)
    {
        var stage = plan.Stage;
        long stepsPerEpoch = StepsPerEpoch(steps.TrainCount, stage.BatchSize);
        var schedule = new LearningRateSchedule(stage.Schedule, stage.Optimizer.LearningRate, stepsPerEpoch, stage.Epochs);
        long totalSteps = stepsPerEpoch * stage.Epochs;

        for (int epoch = state.EpochsCompleted; epoch < stage.Epochs && !state.Finished; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            int epochSeed = EpochSeed(seed, plan.Index, epoch);
            manual_seed(epochSeed);
            var batches = BatchSampler.Batches(steps.TrainCount, stage.BatchSize, shuffle: true, epochSeed);
            steps.BeginEpoch(epochSeed);
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            long samples = 0;
            for (int s = 0; s < batches.Count; s++)
            {
                cancel.ThrowIfCancellationRequested();
                long localStep = epoch * stepsPerEpoch + s;
                long globalStep = state.StepOffset + localStep;
                double lr = schedule.At(localStep);
                OptimizerFactory.SetLearningRate(optimizer, lr);

                var context = new StepContext(epoch, localStep, globalStep, stepsPerEpoch, totalSteps);
                foreach (var hook in plan.Hooks)
                    hook.BeforeStep(context);
                double loss = Step(plan, steps, optimizer, batches[s], context);
                if (!double.IsFinite(loss))
                    throw new RunFailedException(
                        $"loss is {loss} in stage '{plan.Name}', epoch {epoch + 1}, step {s + 1}: training diverged " +
                        "(try a lower learning rate or gradient clipping)");

                lossSum += loss * batches[s].Length;
                samples += batches[s].Length;
                tracker.LogMetric(plan.MetricPrefix + MetricSteps.StepLoss, loss, globalStep);
                tracker.LogMetric(plan.MetricPrefix + MetricSteps.LearningRate, lr, globalStep);
                progress?.Report(new TrainingProgress(plan.Name, epoch + 1, stage.Epochs, s + 1, batches.Count, loss,
                    samples / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed, EpochEnd: false));
            }

            int metricEpoch = state.EpochOffset + epoch + 1;
            double trainLoss = lossSum / Math.Max(1, samples);
            var validation = steps.EndEpoch(new EpochFigures(tracker, plan.MetricPrefix, metricEpoch, trainLoss, samples, clock), cancel);
            foreach (var hook in plan.Hooks)
            {
                foreach (var (key, value) in hook.EpochEnd(new EpochContext(epoch, metricEpoch)))
                    tracker.LogMetric(plan.MetricPrefix + key, value, metricEpoch);
            }
            progress?.Report(new TrainingProgress(plan.Name, epoch + 1, stage.Epochs, batches.Count, batches.Count, trainLoss,
                validation.SamplesPerSecond, clock.Elapsed, EpochEnd: true, validation.Accuracy, validation.BitsPerByte));

            state = EarlyStop(stage.EarlyStop, state with { EpochsCompleted = epoch + 1 }, validation);
            afterEpoch(state);
        }
        return state with { Finished = true };
    }

    private static double Step(EpochPlan plan, IPhaseSteps steps, optim.Optimizer optimizer, long[] indices, StepContext context)
    {
        using var scope = NewDisposeScope();
        var loss = steps.Loss(indices);
        optimizer.zero_grad();
        loss.backward();
        foreach (var hook in plan.Hooks)
            hook.BeforeOptimizerStep(context);
        if (plan.Stage.ClipGradNorm is { } maxNorm)
            nn.utils.clip_grad_norm_(plan.Parameters, maxNorm);
        optimizer.step();
        foreach (var hook in plan.Hooks)
            hook.AfterOptimizerStep(context);
        return loss.item<float>();
    }

    private static PhaseState EarlyStop(EarlyStopOptions? options, PhaseState state, EpochValidation validation)
    {
        if (options is null)
            return state;
        double value = validation.StopValue;
        bool improved = state.BestMetric is not { } best
            || (validation.HigherIsBetter ? value > best + options.MinDelta : value < best - options.MinDelta);
        if (improved)
            return state with { BestMetric = value, BadEpochs = 0 };
        int bad = state.BadEpochs + 1;
        return state with { BadEpochs = bad, Finished = bad >= options.Patience };
    }
}
