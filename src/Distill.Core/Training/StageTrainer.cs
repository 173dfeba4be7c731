using System.Diagnostics;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Distill.Core.Tracking;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>Where a phase stands: saved in every checkpoint so that a resumed phase carries on
/// from the next epoch with the same early-stop bookkeeping and metric step numbers.</summary>
public sealed record PhaseState
{
    public int EpochsCompleted { get; init; }
    public bool Finished { get; init; }
    public double? BestMetric { get; init; }
    public int BadEpochs { get; init; }
    /// <summary>Optimiser steps and epochs done by earlier phases of the same model, so that metric steps keep rising.</summary>
    public long StepOffset { get; init; }
    public int EpochOffset { get; init; }
}

/// <summary>One phase of training: a model, what it learns from, and how.</summary>
public sealed record PhaseSetup(
    string Name,
    int Index,
    StageOptions Stage,
    ZooModel Model,
    ITeacher? Teacher,
    DistillationLoss Loss,
    string MetricPrefix,
    IReadOnlyList<IStepHook>? Hooks = null,
    QuantizedZooModel? Quantized = null)
{
    /// <summary>What is trained and evaluated: the fake-quant view of the model when quantisation is on
    /// (it shares the model's weights), the model itself otherwise.</summary>
    public nn.Module<Tensor, Tensor> Trained => Quantized is null ? Model : Quantized;
}

/// <summary>Runs the epochs of one phase: batches, teacher outputs, loss, step, schedule, evaluation,
/// early stop, NaN guard, and a checkpoint callback after every epoch.</summary>
public sealed class StageTrainer(DataSplits data, int seed, ITracker tracker, IProgress<TrainingProgress>? progress)
{
    /// <summary>Seed of everything random in one epoch (batch order, dropout, augmentation), derived
    /// from the run seed so that an epoch replays identically after a resume.</summary>
    public static int EpochSeed(int seed, int phase, int epoch) =>
        unchecked((int)(((uint)seed * 1_000_003u) ^ ((uint)phase * 10_007u) ^ ((uint)epoch * 101u)));

    public static long StepsPerEpoch(long samples, int batchSize) => (samples + batchSize - 1) / batchSize;

    public PhaseState Run(PhaseSetup setup, optim.Optimizer optimizer, PhaseState state,
        Action<PhaseState> afterEpoch, CancellationToken cancel)
    {
        var stage = setup.Stage;
        long stepsPerEpoch = StepsPerEpoch(data.Train.Count, stage.BatchSize);
        var schedule = new LearningRateSchedule(stage.Schedule, stage.Optimizer.LearningRate, stepsPerEpoch, stage.Epochs);
        var parameters = setup.Trained.parameters().Concat(setup.Loss.parameters()).ToList();
        var hooks = setup.Hooks ?? [];
        long totalSteps = stepsPerEpoch * stage.Epochs;
        // Batches, teacher outputs and the cache go where the model is; the data stays in CPU memory.
        var device = ComputeDevice.Of(setup.Model);

        using var cache = UseTeacherCache(setup) ? BuildCache(setup, device, cancel) : null;

        for (int epoch = state.EpochsCompleted; epoch < stage.Epochs && !state.Finished; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            int epochSeed = EpochSeed(seed, setup.Index, epoch);
            manual_seed(epochSeed);
            using var augmentGenerator = data.Augment is null ? null : new Generator((ulong)epochSeed);
            var batches = BatchSampler.Batches(data.Train.Count, stage.BatchSize, shuffle: true, epochSeed);

            setup.Trained.train();
            setup.Loss.train();
            (setup.Teacher as nn.Module)?.eval();
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
                foreach (var hook in hooks)
                    hook.BeforeStep(context);
                double loss = Step(setup, optimizer, parameters, cache, batches[s], augmentGenerator, hooks, context, device);
                if (!double.IsFinite(loss))
                    throw new RunFailedException(
                        $"loss is {loss} in stage '{setup.Name}', epoch {epoch + 1}, step {s + 1}: training diverged " +
                        "(try a lower learning rate or gradient clipping)");

                lossSum += loss * batches[s].Length;
                samples += batches[s].Length;
                tracker.LogMetric(setup.MetricPrefix + MetricSteps.StepLoss, loss, globalStep);
                tracker.LogMetric(setup.MetricPrefix + MetricSteps.LearningRate, lr, globalStep);
                progress?.Report(new TrainingProgress(setup.Name, epoch + 1, stage.Epochs, s + 1, batches.Count, loss,
                    samples / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed, EpochEnd: false));
            }

            var validation = Evaluator.Evaluate(setup.Trained, data.Validation, cancel: cancel);
            int metricEpoch = state.EpochOffset + epoch + 1;
            double trainLoss = lossSum / Math.Max(1, samples);
            tracker.LogMetric(setup.MetricPrefix + "train/loss", trainLoss, metricEpoch);
            tracker.LogMetric(setup.MetricPrefix + "val/acc", validation.Accuracy, metricEpoch);
            tracker.LogMetric(setup.MetricPrefix + "val/loss", validation.Loss, metricEpoch);
            tracker.LogMetric(setup.MetricPrefix + "train/samples_per_second", samples / clock.Elapsed.TotalSeconds, metricEpoch);
            foreach (var hook in hooks)
            {
                foreach (var (key, value) in hook.EpochEnd(new EpochContext(epoch, metricEpoch)))
                    tracker.LogMetric(setup.MetricPrefix + key, value, metricEpoch);
            }
            progress?.Report(new TrainingProgress(setup.Name, epoch + 1, stage.Epochs, batches.Count, batches.Count, trainLoss,
                samples / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed, EpochEnd: true, validation.Accuracy));

            state = EarlyStop(stage.EarlyStop, state with { EpochsCompleted = epoch + 1 }, validation);
            afterEpoch(state);
        }
        return state with { Finished = true };
    }

    private double Step(PhaseSetup setup, optim.Optimizer optimizer, List<TorchSharp.Modules.Parameter> parameters,
        TeacherOutputCache? cache, long[] indices, Generator? augmentGenerator, IReadOnlyList<IStepHook> hooks, StepContext context, Device device)
    {
        using var scope = NewDisposeScope();
        var (x, y) = data.Train.Batch(indices);
        // Augmented in CPU memory with the epoch's CPU generator, so the same seed gives the same images on every device.
        if (data.Augment is not null)
            x = Augmenter.Apply(x, data.Augment, augmentGenerator!);
        x = ComputeDevice.Move(x, device);
        y = ComputeDevice.Move(y, device);

        Tensor? teacherLogits = null;
        IReadOnlyDictionary<string, Tensor>? teacherTaps = null;
        if (setup.Loss.NeedsTeacher)
        {
            if (cache is not null)
            {
                (teacherLogits, teacherTaps) = cache.Lookup(indices);
            }
            else
            {
                using var noGrad = no_grad();
                (teacherLogits, teacherTaps) = setup.Teacher!.ForwardWithTaps(x, setup.Loss.TeacherTaps);
            }
        }

        var (logits, taps) = setup.Quantized is null
            ? setup.Model.ForwardWithTaps(x, setup.Loss.StudentTaps)
            : (setup.Quantized.call(x), new Dictionary<string, Tensor>());
        var terms = setup.Loss.Compute(logits, taps, teacherLogits, teacherTaps, y);
        optimizer.zero_grad();
        terms.Total.backward();
        foreach (var hook in hooks)
            hook.BeforeOptimizerStep(context);
        if (setup.Stage.ClipGradNorm is { } maxNorm)
            nn.utils.clip_grad_norm_(parameters, maxNorm);
        OptimizerStep.Run(optimizer);
        foreach (var hook in hooks)
            hook.AfterOptimizerStep(context);
        return terms.Total.item<float>();
    }

    private bool UseTeacherCache(PhaseSetup setup) =>
        setup.Stage.CacheTeacher && setup.Loss.NeedsTeacher && data.Augment is null && setup.Teacher is not null;

    private TeacherOutputCache BuildCache(PhaseSetup setup, Device device, CancellationToken cancel)
    {
        var cache = TeacherOutputCache.Build(setup.Teacher!, data.Train.Features, setup.Loss.TeacherTaps, Evaluator.BatchSize, device, cancel);
        tracker.SetTag($"{setup.Name}.teacher_cache_bytes", cache.Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return cache;
    }

    private static PhaseState EarlyStop(EarlyStopOptions? options, PhaseState state, Evaluation validation)
    {
        if (options is null)
            return state;
        bool higherIsBetter = options.Metric != "val/loss";
        double value = higherIsBetter ? validation.Accuracy : validation.Loss;
        bool improved = state.BestMetric is not { } best
            || (higherIsBetter ? value > best + options.MinDelta : value < best - options.MinDelta);
        if (improved)
            return state with { BestMetric = value, BadEpochs = 0 };
        int bad = state.BadEpochs + 1;
        return state with { BadEpochs = bad, Finished = bad >= options.Patience };
    }
}
