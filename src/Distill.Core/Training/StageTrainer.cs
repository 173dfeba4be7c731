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

/// <summary>Runs the epochs of one classifier phase through <see cref="EpochTrainer"/> with <see cref="ClassifierSteps"/>.</summary>
public sealed class StageTrainer(DataSplits data, int seed, ITracker tracker, IProgress<TrainingProgress>? progress)
{
    /// <inheritdoc cref="EpochTrainer.EpochSeed"/>
    public static int EpochSeed(int seed, int phase, int epoch) => EpochTrainer.EpochSeed(seed, phase, epoch);

    public static long StepsPerEpoch(long samples, int batchSize) => EpochTrainer.StepsPerEpoch(samples, batchSize);

    public PhaseState Run(PhaseSetup setup, optim.Optimizer optimizer, PhaseState state,
        Action<PhaseState> afterEpoch, CancellationToken cancel)
    {
        var plan = new EpochPlan(setup.Name, setup.Index, setup.Stage, setup.MetricPrefix, setup.Hooks ?? [],
            [.. setup.Trained.parameters(), .. setup.Loss.parameters()]);
        using var steps = new ClassifierSteps(setup, data, tracker, cancel);
        return new EpochTrainer(seed, tracker, progress).Run(plan, steps, optimizer, state, afterEpoch, cancel);
    }
}

/// <summary>A classifier's batches (augmented in CPU memory with the epoch's generator), teacher logits and taps
/// (live, or from a <see cref="TeacherOutputCache"/> built once per phase), the student's forward (its fake-quant
/// view when quantised) and <see cref="DistillationLoss"/>; validation accuracy and loss, early stop on
/// <see cref="EarlyStopOptions.Metric"/>.</summary>
public sealed class ClassifierSteps : IPhaseSteps
{
    private readonly PhaseSetup _setup;
    private readonly DataSplits _data;
    private readonly Device _device;
    private readonly TeacherOutputCache? _cache;
    private Generator? _augment;

    public ClassifierSteps(PhaseSetup setup, DataSplits data, ITracker tracker, CancellationToken cancel)
    {
        _setup = setup;
        _data = data;
        // Batches, teacher outputs and the cache go where the model is; the data stays in CPU memory.
        _device = ComputeDevice.Of(setup.Model);
        if (setup.Stage.CacheTeacher && setup.Loss.NeedsTeacher && data.Augment is null && setup.Teacher is not null)
        {
            _cache = TeacherOutputCache.Build(setup.Teacher, data.Train.Features, setup.Loss.TeacherTaps, Evaluator.BatchSize, _device, cancel);
            tracker.SetTag($"{setup.Name}.teacher_cache_bytes", _cache.Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    public long TrainCount => _data.Train.Count;

    public void BeginEpoch(int epochSeed)
    {
        _augment?.Dispose();
        _augment = _data.Augment is null ? null : new Generator((ulong)epochSeed);
        _setup.Trained.train();
        _setup.Loss.train();
        (_setup.Teacher as nn.Module)?.eval();
    }

    public Tensor Loss(long[] indices)
    {
        var (x, y) = _data.Train.Batch(indices);
        // Augmented in CPU memory with the epoch's CPU generator, so the same seed gives the same images on every device.
        if (_data.Augment is not null)
            x = Augmenter.Apply(x, _data.Augment, _augment!);
        // Mixed batches learn from class probabilities; the teacher below sees the mixed images.
        var targets = y;
        if (_data.Augment is { Mixes: true } mixing)
            (x, targets) = BatchMixer.Mix(x, y, _data.NumClasses, mixing, _augment!);
        x = ComputeDevice.Move(x, _device);
        targets = ComputeDevice.Move(targets, _device);

        Tensor? teacherLogits = null;
        IReadOnlyDictionary<string, Tensor>? teacherTaps = null;
        if (_setup.Loss.NeedsTeacher)
        {
            if (_cache is not null)
            {
                (teacherLogits, teacherTaps) = _cache.Lookup(indices);
            }
            else
            {
                using var noGrad = no_grad();
                (teacherLogits, teacherTaps) = _setup.Teacher!.ForwardWithTaps(x, _setup.Loss.TeacherTaps);
            }
        }

        var (logits, taps) = _setup.Quantized is null
            ? _setup.Model.ForwardWithTaps(x, _setup.Loss.StudentTaps)
            : (_setup.Quantized.call(x), new Dictionary<string, Tensor>());
        var teacher = teacherLogits is null ? null : new ModelOutputs(teacherLogits, teacherTaps);
        return _setup.Loss.Compute(new LossInputs(new ModelOutputs(logits, taps), teacher, targets)).Total;
    }

    public EpochValidation EndEpoch(EpochFigures epoch, CancellationToken cancel)
    {
        var validation = Evaluator.Evaluate(_setup.Trained, _data.Validation, cancel: cancel);
        var (tracker, prefix, step) = (epoch.Tracker, epoch.Prefix, epoch.MetricEpoch);
        tracker.LogMetric(prefix + "train/loss", epoch.TrainLoss, step);
        tracker.LogMetric(prefix + "val/acc", validation.Accuracy, step);
        tracker.LogMetric(prefix + "val/loss", validation.Loss, step);
        tracker.LogMetric(prefix + "train/samples_per_second", epoch.Samples / epoch.Clock.Elapsed.TotalSeconds, step);
        bool higherIsBetter = _setup.Stage.EarlyStop?.Metric != "val/loss";
        return new EpochValidation(higherIsBetter ? validation.Accuracy : validation.Loss, higherIsBetter,
            epoch.Samples / Math.Max(1e-9, epoch.Clock.Elapsed.TotalSeconds), Accuracy: validation.Accuracy);
    }

    public void Dispose()
    {
        _augment?.Dispose();
        _cache?.Dispose();
    }
}
