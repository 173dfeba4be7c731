using System.Diagnostics;
using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Tracking;
using Distill.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

/// <summary>Cost of one part of a training step in microseconds, as StageTrainer does it and as the
/// hand loop does it (0 when the hand loop does not do it at all).</summary>
public sealed record StepCost(string Part, double DistillMicros, double HandMicros, string Note)
{
    public double ExtraMicros => DistillMicros - HandMicros;
}

/// <summary>Micro-benchmarks of the per-step work StageTrainer does beyond the minimal loop: each part
/// run alone in a tight loop (median of 5 rounds), so that costs of a few microseconds are measurable
/// where whole-epoch timings on a busy machine are not.</summary>
public static class StepCosts
{
    private const int Rounds = 5;

    public static List<StepCost> Measure(BenchContext context)
    {
        var costs = new List<StepCost>
        {
            LearningRate(context),
            TrackerMetrics(context),
            LossItem(),
            Bookkeeping(),
            KdLossForwardBackward(context),
            BatchAndTeacherLookup(context),
        };
        return costs;
    }

    /// <summary>schedule.At(step) + OptimizerFactory.SetLearningRate on the student's Adam, every step.</summary>
    private static StepCost LearningRate(BenchContext context)
    {
        using var student = context.BuildStudent();
        var stage = BenchContext.KdStage(cacheTeacher: true);
        using var optimizer = OptimizerFactory.Create(stage.Optimizer, student.parameters());
        var schedule = new LearningRateSchedule(stage.Schedule, stage.Optimizer.LearningRate, context.StepsPerEpoch, stage.Epochs);
        long step = 0;
        double micros = MicrosPerIteration(50_000, () => OptimizerFactory.SetLearningRate(optimizer, schedule.At(step++ % context.StepsPerEpoch)));
        return new StepCost("lr schedule + SetLearningRate", micros, 0, "hand loop keeps the optimiser's lr");
    }

    /// <summary>Two LogMetric calls per step on a real store tracker, amortised over 5,000 steps
    /// including the SQLite writes of the buffered points (End flushes the rest).</summary>
    private static StepCost TrackerMetrics(BenchContext context)
    {
        const int steps = 5_000;
        var samples = new List<double>();
        for (int round = 0; round < 1 + Rounds; round++)
        {
            using var tracker = context.Store.StartRun("bench", $"metric-cost-{round}");
            var clock = Stopwatch.StartNew();
            for (int s = 0; s < steps; s++)
            {
                tracker.LogMetric("train/step_loss", 1.0 / (s + 1), s);
                tracker.LogMetric("train/lr", BenchContext.LearningRate, s);
            }
            tracker.End(RunStatus.Finished);
            if (round > 0)
                samples.Add(clock.Elapsed.TotalMicroseconds / steps);
        }
        return new StepCost("2x tracker.LogMetric (incl. SQLite write)", Stats.Median(samples), 0,
            "buffered; written in batches by the 1 s timer or at 500 points; hand loop logs nothing");
    }

    /// <summary>Reading the loss back: both loops do it (StageTrainer for the NaN guard and the epoch
    /// loss, the hand loop for the epoch loss). On CPU the tensor is already computed, so it is a copy, not a sync.</summary>
    private static StepCost LossItem()
    {
        using var loss = tensor(0.25f);
        double micros = MicrosPerIteration(200_000, () => loss.item<float>());
        return new StepCost("loss .item<float>()", micros, micros, "both loops; CPU ops are synchronous, no device sync");
    }

    /// <summary>The rest of StageTrainer's per-step work outside the tensors: cancellation check, finiteness
    /// check, loss sums, and one TrainingProgress record handed to a sink that keeps it.</summary>
    private static StepCost Bookkeeping()
    {
        TrainingProgress? last = null;
        var sink = new Progress(p => last = p);
        var clock = Stopwatch.StartNew();
        var cancel = CancellationToken.None;
        double lossSum = 0;
        long samples = 0;
        int step = 0;
        double micros = MicrosPerIteration(200_000, () =>
        {
            cancel.ThrowIfCancellationRequested();
            double loss = 0.5;
            if (!double.IsFinite(loss))
                throw new InvalidOperationException("not finite");
            lossSum += loss * BenchContext.BatchSize;
            samples += BenchContext.BatchSize;
            sink.Report(new TrainingProgress("distil", 1, 1, ++step, 141, loss,
                samples / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed, EpochEnd: false));
        });
        GC.KeepAlive(last);
        return new StepCost("checks + progress record", micros, 0, "no-op-ish sink; the CLI's printer redraws at most every 100 ms");
    }

    /// <summary>DistillationLoss.Compute (soft-target KD + CE) against the same maths inline, forward and
    /// backward on [64,10] logits.</summary>
    private static StepCost KdLossForwardBackward(BenchContext context)
    {
        using var student = context.BuildStudent();
        var lossOptions = BenchContext.KdStage(cacheTeacher: true).Loss;
        using var distillLoss = new DistillationLoss(lossOptions, LossModel.Of(student), LossModel.Of(context.Teacher));
        manual_seed(7);
        using var studentLogits = randn(BenchContext.BatchSize, 10).requires_grad_();
        using var teacherLogits = randn(BenchContext.BatchSize, 10);
        using var labels = randint(0, 10, [BenchContext.BatchSize]);
        const double t = BenchContext.Temperature;
        const double alpha = BenchContext.Alpha;

        var (distill, hand) = MicrosPerIterationAlternated(1_000, () =>
        {
            using var scope = NewDisposeScope();
            var terms = distillLoss.Compute(new LossInputs(new ModelOutputs(studentLogits), new ModelOutputs(teacherLogits), labels));
            terms.Total.backward();
        }, () =>
        {
            using var scope = NewDisposeScope();
            var hard = nn.functional.cross_entropy(studentLogits, labels);
            var kl = nn.functional.kl_div(nn.functional.log_softmax(studentLogits / t, 1), nn.functional.log_softmax(teacherLogits / t, 1),
                reduction: nn.Reduction.Sum, log_target: true);
            var total = alpha * (kl * (t * t / BenchContext.BatchSize)) + (1 - alpha) * hard;
            total.backward();
        });
        return new StepCost("KD loss forward + backward", distill, hand, "DistillationLoss.Compute vs the same ops inline");
    }

    /// <summary>Cutting the batch and looking up its teacher logits: TensorDataset.Batch + TeacherOutputCache.Lookup
    /// (two index tensors) against one index tensor and three index_select calls.</summary>
    private static StepCost BatchAndTeacherLookup(BenchContext context)
    {
        // The lookup cost does not depend on the cache's length: cache the first 1,000 rows only.
        const long rows = 1_000;
        var train = context.Data.Train;
        using var slice = train.Features.narrow(0, 0, rows);
        using var cache = TeacherOutputCache.Build(context.Teacher, slice, [], BenchContext.EvalBatchSize);
        using var logits = HandSession.TeacherLogits(context.Teacher, slice);
        var batches = BatchSampler.Batches(rows, BenchContext.BatchSize, shuffle: true, BenchContext.Seed);
        int b = 0;
        var (distill, hand) = MicrosPerIterationAlternated(2_000, () =>
        {
            using var scope = NewDisposeScope();
            var indices = batches[b++ % batches.Count];
            var (x, y) = train.Batch(indices);
            var (teacher, _) = cache.Lookup(indices);
        }, () =>
        {
            using var scope = NewDisposeScope();
            var indices = batches[b++ % batches.Count];
            var index = tensor(indices, ScalarType.Int64);
            var x = train.Features.index_select(0, index);
            var y = train.Labels.index_select(0, index);
            var teacher = logits.index_select(0, index);
        });
        return new StepCost("batch + cached teacher logits", distill, hand, "Batch + Lookup vs one shared index tensor");
    }

    /// <summary>Two variants of the same work, rounds alternated so that changing machine load hits both alike.</summary>
    private static (double A, double B) MicrosPerIterationAlternated(int iterations, Action a, Action b)
    {
        for (int i = 0; i < Math.Max(1, iterations / 10); i++)
        {
            a();
            b();
        }
        var samplesA = new List<double>();
        var samplesB = new List<double>();
        for (int round = 0; round < Rounds; round++)
        {
            samplesA.Add(TimeRound(iterations, a));
            samplesB.Add(TimeRound(iterations, b));
        }
        return (Stats.Median(samplesA), Stats.Median(samplesB));
    }

    private static double TimeRound(int iterations, Action body)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
            body();
        return clock.Elapsed.TotalMicroseconds / iterations;
    }

    private static double MicrosPerIteration(int iterations, Action body)
    {
        for (int i = 0; i < Math.Max(1, iterations / 10); i++)
            body();
        var samples = new List<double>();
        for (int round = 0; round < Rounds; round++)
            samples.Add(TimeRound(iterations, body));
        return Stats.Median(samples);
    }

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
