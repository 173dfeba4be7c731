using System.Diagnostics;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Tracking;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

/// <summary>A student trained by Distill's own <see cref="StageTrainer"/> in a KD phase of
/// <paramref name="epochs"/> epochs, logging to a real run-store tracker as a real run does
/// (no checkpoint is written after each epoch).</summary>
public sealed class DistillSession : IDisposable
{
    private readonly BenchContext _context;
    private readonly StageOptions _stage;
    private readonly DistillationLoss _loss;
    private readonly optim.Optimizer _optimizer;
    private readonly ITracker _tracker;
    private readonly ProgressProbe _probe = new();
    private readonly StageTrainer _trainer;

    public DistillSession(BenchContext context, bool cacheTeacher, int epochs, string runName)
    {
        _context = context;
        _stage = BenchContext.KdStage(cacheTeacher) with { Epochs = epochs };
        Student = context.BuildStudent();
        _loss = new DistillationLoss(_stage.Loss, LossModel.Of(Student), LossModel.Of(context.Teacher));
        _optimizer = OptimizerFactory.Create(_stage.Optimizer, Student.parameters().Concat(_loss.parameters()));
        _tracker = context.Store.StartRun("bench", runName);
        _trainer = new StageTrainer(context.Data, BenchContext.Seed, _tracker, _probe);
    }

    public ZooModel Student { get; }

    /// <summary>Every epoch run so far, in order.</summary>
    public List<EpochTiming> Epochs { get; } = [];

    /// <summary>Seconds from the start of the last Run call to the start of its first epoch's steps:
    /// building the teacher cache when it is on.</summary>
    public double LastSetupSeconds { get; private set; }

    /// <summary>All epochs in one StageTrainer.Run call (so the teacher cache is built once), calling
    /// <paramref name="afterEpoch"/> with the epoch index after each.</summary>
    public void RunAll(Action<int> afterEpoch) => Run(_stage, new PhaseState(), afterEpoch);

    /// <summary>Only epoch <paramref name="epoch"/>: a phase resumed after epoch − 1 and ending after
    /// this epoch (the learning rate is constant, so the shorter phase changes nothing else).</summary>
    public EpochTiming RunEpoch(int epoch)
    {
        Run(_stage with { Epochs = epoch + 1 }, new PhaseState { EpochsCompleted = epoch }, afterEpoch: _ => { });
        return Epochs[^1];
    }

    private void Run(StageOptions stage, PhaseState state, Action<int> afterEpoch)
    {
        var setup = new PhaseSetup(stage.Name, BenchContext.PhaseIndex, stage, Student, _context.Teacher, _loss, MetricPrefix: "");
        Settle();
        _probe.Start(this);
        _trainer.Run(setup, _optimizer, state, s =>
        {
            afterEpoch(s.EpochsCompleted - 1);
            Settle();
        }, CancellationToken.None);
    }

    /// <summary>Starts every timed epoch from the same state: garbage of the previous one collected.</summary>
    public static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    public void Dispose()
    {
        _tracker.End(RunStatus.Finished);
        _tracker.Dispose();
        _optimizer.Dispose();
        _loss.Dispose();
        Student.Dispose();
    }

    /// <summary>Turns StageTrainer's progress reports into epoch timings. Its epoch stopwatch starts
    /// right before the first step: at the last step it holds the loop time, at the end-of-epoch
    /// report the loop plus validation.</summary>
    private sealed class ProgressProbe : IProgress<TrainingProgress>
    {
        private DistillSession? _session;
        private Stopwatch _call = new();
        private bool _firstStep;
        private double _loop;

        public void Start(DistillSession session)
        {
            _session = session;
            _call = Stopwatch.StartNew();
            _firstStep = true;
        }

        public void Report(TrainingProgress value)
        {
            if (_firstStep && !value.EpochEnd)
            {
                _session!.LastSetupSeconds = _call.Elapsed.TotalSeconds - value.Elapsed.TotalSeconds;
                _firstStep = false;
            }
            if (value.EpochEnd)
            {
                _session!.Epochs.Add(new EpochTiming(value.Epoch - 1, _loop, value.Elapsed.TotalSeconds, value.Loss,
                    value.ValidationAccuracy ?? double.NaN));
            }
            else if (value.Step == value.StepsPerEpoch)
            {
                _loop = value.Elapsed.TotalSeconds;
            }
        }
    }
}
