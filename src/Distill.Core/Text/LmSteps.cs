using System.Diagnostics;
using System.Globalization;
using Distill.Core.Distillation;
using Distill.Core.Tracking;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>One phase of language-model training: the model trained, the teacher it learns from (null for the
/// teacher's own training and for a scratch student; a <see cref="TransformerLm"/>, or an ONNX file's logits for KD
/// alone) and the composed loss.</summary>
public sealed record LmPhaseSetup(
    string Name,
    StageOptions Stage,
    TransformerLm Model,
    ILmLogitSource? Teacher,
    DistillationLoss Loss);

/// <summary>A language model's steps for <see cref="EpochTrainer"/>: shuffled token windows, teacher outputs (live,
/// or from a <see cref="TopKTeacherCache"/> built once per phase), the composed loss; validation cross-entropy /
/// bits per byte / perplexity, early stop on validation cross-entropy.</summary>
public sealed class LmSteps : IPhaseSteps
{
    private readonly LmPhaseSetup _setup;
    private readonly TextData _data;
    private readonly Device _device;
    private readonly TopKTeacherCache? _cache;
    private readonly bool _liveTeacher;

    /// <param name="tracker">The phase's tracker: the cache's cost is recorded there.</param>
    /// <param name="state">Where the phase starts: a resumed phase rebuilds its cache without logging its cost again.</param>
    public LmSteps(LmPhaseSetup setup, TextData data, ITracker tracker, PhaseState state, CancellationToken cancel)
    {
        _setup = setup;
        _data = data;
        // Windows, teacher outputs and the cache go where the model is; the token windows stay in CPU memory.
        _device = ComputeDevice.Of(setup.Model);
        if (setup.Stage.Loss.Get<KdOptions>() is { TeacherCacheTopK: { } k } kd && setup.Teacher is not null)
            _cache = BuildCache(tracker, k, kd.Temperature, state, cancel);
        _liveTeacher = setup.Loss.NeedsTeacher && _cache is null;
    }

    public long TrainCount => _data.Train.Count;

    public void BeginEpoch(int epochSeed)
    {
        _setup.Model.train();
        _setup.Loss.train();
        (_setup.Teacher as TransformerLm)?.eval();
    }

    public Tensor Loss(long[] indices)
    {
        var (input, target) = _data.Train.Batch(indices);
        input = ComputeDevice.Move(input, _device);
        target = ComputeDevice.Move(target, _device);
        ModelOutputs? teacherOutput = null;
        if (_liveTeacher)
        {
            using var noGrad = no_grad();
            teacherOutput = _setup.Teacher is TransformerLm lm
                ? ModelOutputs.Of(lm.Run(input, _setup.Loss.TeacherTaps, _setup.Loss.NeedsAttention))
                : new ModelOutputs(_setup.Teacher!.Logits(input));
        }
        var cached = _cache?.Batch(indices);
        var student = _setup.Model.Run(input, _setup.Loss.StudentTaps, _setup.Loss.NeedsAttention);
        return _setup.Loss.Compute(new LossInputs(ModelOutputs.Of(student), teacherOutput, target, cached)).Total;
    }

    public EpochValidation EndEpoch(EpochFigures epoch, CancellationToken cancel)
    {
        double seconds = Math.Max(1e-9, epoch.Clock.Elapsed.TotalSeconds);
        var validation = LmEvaluator.Evaluate(_setup.Model, _data.Validation, _data.Tokenizer, _setup.Stage.BatchSize, cancel);
        var (tracker, prefix, step) = (epoch.Tracker, epoch.Prefix, epoch.MetricEpoch);
        tracker.LogMetric(prefix + "train/loss", epoch.TrainLoss, step);
        tracker.LogMetric(prefix + "train/tokens_per_second", epoch.Samples * _data.Train.Context / seconds, step);
        tracker.LogMetric(prefix + "train/epoch_seconds", seconds, step);
        LogValidation(tracker, prefix, validation, step);
        return new EpochValidation(validation.CrossEntropy, HigherIsBetter: false, epoch.Samples / seconds, BitsPerByte: validation.BitsPerByte);
    }

    /// <summary>val/cross_entropy (nats per token), val/bits_per_byte and val/perplexity.</summary>
    public static void LogValidation(ITracker tracker, string prefix, LmEvaluation validation, long step)
    {
        tracker.LogMetric(prefix + "val/cross_entropy", validation.CrossEntropy, step);
        tracker.LogMetric(prefix + "val/bits_per_byte", validation.BitsPerByte, step);
        tracker.LogMetric(prefix + "val/perplexity", validation.Perplexity, step);
    }

    /// <summary>Builds the phase's top-k cache over the training windows and records what it costs: its memory
    /// against full float32 logits (tags and metrics) and its build time. The metrics are logged when the phase
    /// starts, not again when a resumed phase rebuilds its cache (the run has them already).</summary>
    private TopKTeacherCache BuildCache(ITracker tracker, int k, double temperature, PhaseState state, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var cache = TopKTeacherCache.Build(_setup.Teacher!, _data.Train, k, temperature, _setup.Stage.BatchSize, _device, cancel);
        clock.Stop();
        string Text(double value) => value.ToString(CultureInfo.InvariantCulture);
        string name = _setup.Name;
        tracker.SetTag($"{name}.teacher_cache_top_k", Text(k));
        tracker.SetTag($"{name}.teacher_cache_bytes", Text(cache.Bytes));
        tracker.SetTag($"{name}.teacher_cache_full_logits_bytes", Text(cache.FullLogitsBytes));
        tracker.SetTag($"{name}.teacher_cache_build_seconds", clock.Elapsed.TotalSeconds.ToString("F3", CultureInfo.InvariantCulture));
        if (state.EpochsCompleted > 0)
            return cache;
        tracker.LogMetric("teacher_cache/bytes", cache.Bytes, state.EpochOffset);
        tracker.LogMetric("teacher_cache/full_logits_bytes", cache.FullLogitsBytes, state.EpochOffset);
        tracker.LogMetric("teacher_cache/build_seconds", clock.Elapsed.TotalSeconds, state.EpochOffset);
        return cache;
    }

    public void Dispose() => _cache?.Dispose();
}
