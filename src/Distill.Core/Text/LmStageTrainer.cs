using System.Diagnostics;
using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Tracking;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>One phase of language-model training: the model trained, the teacher it learns from (null for the
/// teacher's own training and for a scratch student; a <see cref="TransformerLm"/>, or an ONNX file's logits for KD
/// alone) and the composed loss.</summary>
public sealed record LmPhaseSetup(
    string Name,
    int Index,
    StageOptions Stage,
    TransformerLm Model,
    ILmLogitSource? Teacher,
    LmDistillationLoss Loss,
    string MetricPrefix);

/// <summary>Runs the epochs of one language-model phase: shuffled windows, teacher outputs (live, or from a
/// <see cref="TopKTeacherCache"/> built once per phase), loss, step, schedule, validation cross-entropy /
/// bits per byte / perplexity, early stop on validation cross-entropy, NaN guard, and a checkpoint callback
/// after every epoch. Epochs reseed from <see cref="StageTrainer.EpochSeed"/>, so a resumed phase replays exactly.</summary>
public sealed class LmStageTrainer(TextData data, int seed, ITracker tracker, IProgress<TrainingProgress>? progress)
{
    public PhaseState Run(LmPhaseSetup setup, optim.Optimizer optimizer, PhaseState state, Action<PhaseState> afterEpoch,
        CancellationToken cancel)
    {
        var stage = setup.Stage;
        long stepsPerEpoch = StageTrainer.StepsPerEpoch(data.Train.Count, stage.BatchSize);
        var schedule = new LearningRateSchedule(stage.Schedule, stage.Optimizer.LearningRate, stepsPerEpoch, stage.Epochs);
        var parameters = setup.Model.parameters().Concat(setup.Loss.parameters()).ToList();
        // Windows, teacher outputs and the cache go where the model is; the token windows stay in CPU memory.
        var device = ComputeDevice.Of(setup.Model);
        using var cache = stage.Loss.TeacherCacheTopK is { } k && stage.Loss.Kd is { } kd && setup.Teacher is not null
            ? BuildCache(setup, k, kd.Temperature, state, device, cancel)
            : null;
        bool liveTeacher = setup.Loss.NeedsTeacher && cache is null;

        for (int epoch = state.EpochsCompleted; epoch < stage.Epochs && !state.Finished; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            int epochSeed = StageTrainer.EpochSeed(seed, setup.Index, epoch);
            manual_seed(epochSeed);
            var batches = BatchSampler.Batches(data.Train.Count, stage.BatchSize, shuffle: true, epochSeed);
            setup.Model.train();
            setup.Loss.train();
            (setup.Teacher as TransformerLm)?.eval();
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            long windows = 0;
            for (int s = 0; s < batches.Count; s++)
            {
                cancel.ThrowIfCancellationRequested();
                long localStep = epoch * stepsPerEpoch + s;
                long globalStep = state.StepOffset + localStep;
                double lr = schedule.At(localStep);
                OptimizerFactory.SetLearningRate(optimizer, lr);
                double loss = Step(setup, optimizer, parameters, cache, liveTeacher, batches[s], device);
                if (!double.IsFinite(loss))
                {
                    throw new RunFailedException(
                        $"loss is {loss} in stage '{setup.Name}', epoch {epoch + 1}, step {s + 1}: training diverged "
                        + "(try a lower learning rate or gradient clipping)");
                }
                lossSum += loss * batches[s].Length;
                windows += batches[s].Length;
                tracker.LogMetric(setup.MetricPrefix + MetricSteps.StepLoss, loss, globalStep);
                tracker.LogMetric(setup.MetricPrefix + MetricSteps.LearningRate, lr, globalStep);
                progress?.Report(new TrainingProgress(setup.Name, epoch + 1, stage.Epochs, s + 1, batches.Count, loss,
                    windows / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed, EpochEnd: false));
            }
            double seconds = Math.Max(1e-9, clock.Elapsed.TotalSeconds);

            var validation = LmEvaluator.Evaluate(setup.Model, data.Validation, data.Tokenizer, stage.BatchSize, cancel);
            int metricEpoch = state.EpochOffset + epoch + 1;
            double trainLoss = lossSum / Math.Max(1, windows);
            tracker.LogMetric(setup.MetricPrefix + "train/loss", trainLoss, metricEpoch);
            tracker.LogMetric(setup.MetricPrefix + "train/tokens_per_second", windows * data.Train.Context / seconds, metricEpoch);
            tracker.LogMetric(setup.MetricPrefix + "train/epoch_seconds", seconds, metricEpoch);
            LogValidation(tracker, setup.MetricPrefix, validation, metricEpoch);
            progress?.Report(new TrainingProgress(setup.Name, epoch + 1, stage.Epochs, batches.Count, batches.Count, trainLoss,
                windows / seconds, clock.Elapsed, EpochEnd: true, ValidationBitsPerByte: validation.BitsPerByte));

            state = EarlyStop(stage.EarlyStop, state with { EpochsCompleted = epoch + 1 }, validation.CrossEntropy);
            afterEpoch(state);
        }
        return state with { Finished = true };
    }

    /// <summary>val/cross_entropy (nats per token), val/bits_per_byte and val/perplexity.</summary>
    public static void LogValidation(ITracker tracker, string prefix, LmEvaluation validation, long step)
    {
        tracker.LogMetric(prefix + "val/cross_entropy", validation.CrossEntropy, step);
        tracker.LogMetric(prefix + "val/bits_per_byte", validation.BitsPerByte, step);
        tracker.LogMetric(prefix + "val/perplexity", validation.Perplexity, step);
    }

    private double Step(LmPhaseSetup setup, optim.Optimizer optimizer, List<TorchSharp.Modules.Parameter> parameters,
        TopKTeacherCache? cache, bool liveTeacher, long[] indices, Device device)
    {
        using var scope = NewDisposeScope();
        var (input, target) = data.Train.Batch(indices);
        input = ComputeDevice.Move(input, device);
        target = ComputeDevice.Move(target, device);
        LmOutput? teacherOutput = null;
        if (liveTeacher)
        {
            using var noGrad = no_grad();
            teacherOutput = setup.Teacher is TransformerLm lm
                ? lm.Run(input, setup.Loss.TeacherHidden, setup.Loss.NeedsAttention)
                : new LmOutput(setup.Teacher!.Logits(input), new Dictionary<string, Tensor>(), new Dictionary<string, Tensor>());
        }
        var cached = cache?.Batch(indices);
        var student = setup.Model.Run(input, setup.Loss.StudentHidden, setup.Loss.NeedsAttention);
        var terms = setup.Loss.Compute(student, target, teacherOutput, cached);
        optimizer.zero_grad();
        terms.Total.backward();
        if (setup.Stage.ClipGradNorm is { } maxNorm)
        {
            nn.utils.clip_grad_norm_(parameters, maxNorm);
        }
        OptimizerStep.Run(optimizer);
        return terms.Total.item<float>();
    }

    /// <summary>Builds the phase's top-k cache over the training windows and records what it costs: its memory
    /// against full float32 logits (tags and metrics) and its build time. The metrics are logged when the phase
    /// starts, not again when a resumed phase rebuilds its cache (the run has them already).</summary>
    private TopKTeacherCache BuildCache(LmPhaseSetup setup, int k, double temperature, PhaseState state, Device device, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var cache = TopKTeacherCache.Build(setup.Teacher!, data.Train, k, temperature, setup.Stage.BatchSize, device, cancel);
        clock.Stop();
        string Text(double value) => value.ToString(CultureInfo.InvariantCulture);
        tracker.SetTag($"{setup.Name}.teacher_cache_top_k", Text(k));
        tracker.SetTag($"{setup.Name}.teacher_cache_bytes", Text(cache.Bytes));
        tracker.SetTag($"{setup.Name}.teacher_cache_full_logits_bytes", Text(cache.FullLogitsBytes));
        tracker.SetTag($"{setup.Name}.teacher_cache_build_seconds", clock.Elapsed.TotalSeconds.ToString("F3", CultureInfo.InvariantCulture));
        if (state.EpochsCompleted > 0)
            return cache;
        tracker.LogMetric("teacher_cache/bytes", cache.Bytes, state.EpochOffset);
        tracker.LogMetric("teacher_cache/full_logits_bytes", cache.FullLogitsBytes, state.EpochOffset);
        tracker.LogMetric("teacher_cache/build_seconds", clock.Elapsed.TotalSeconds, state.EpochOffset);
        return cache;
    }

    private static PhaseState EarlyStop(EarlyStopOptions? options, PhaseState state, double crossEntropy)
    {
        if (options is null)
        {
            return state;
        }
        bool improved = state.BestMetric is not { } best || crossEntropy < best - options.MinDelta;
        if (improved)
        {
            return state with { BestMetric = crossEntropy, BadEpochs = 0 };
        }
        int bad = state.BadEpochs + 1;
        return state with { BadEpochs = bad, Finished = bad >= options.Patience };
    }
}
