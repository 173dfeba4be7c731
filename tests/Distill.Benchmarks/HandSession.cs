using System.Diagnostics;
using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

/// <summary>The same KD training as <see cref="DistillSession"/>, written as a minimal TorchSharp loop:
/// same student initialisation, same batches, same teacher logits, same loss maths, same optimiser,
/// the same validation pass, and nothing else (no tracker, no schedule, no progress, no checks).</summary>
public sealed class HandSession : IDisposable
{
    private readonly BenchContext _context;
    private readonly optim.Optimizer _optimizer;
    private readonly Tensor? _teacherLogits;

    public HandSession(BenchContext context, bool cacheTeacher)
    {
        _context = context;
        Student = context.BuildStudent();
        _optimizer = optim.Adam(Student.parameters(), BenchContext.LearningRate);
        if (cacheTeacher)
        {
            DistillSession.Settle();
            var clock = Stopwatch.StartNew();
            _teacherLogits = TeacherLogits(context.Teacher, context.Data.Train.Features);
            SetupSeconds = clock.Elapsed.TotalSeconds;
        }
    }

    public ZooModel Student { get; }

    /// <summary>Seconds spent computing the teacher logits of the training set (0 without the cache).</summary>
    public double SetupSeconds { get; }

    public EpochTiming RunEpoch(int epoch)
    {
        var teacher = _context.Teacher;
        var train = _context.Data.Train;
        const double t = BenchContext.Temperature;
        const double alpha = BenchContext.Alpha;

        var batches = _context.EpochBatches(epoch, out int epochSeed);
        manual_seed(epochSeed);
        Student.train();
        teacher.eval();

        var clock = Stopwatch.StartNew();
        double lossSum = 0;
        foreach (var indices in batches)
        {
            using var scope = NewDisposeScope();
            var index = tensor(indices, ScalarType.Int64);
            var x = train.Features.index_select(0, index);
            var y = train.Labels.index_select(0, index);
            Tensor teacherLogits;
            if (_teacherLogits is not null)
            {
                teacherLogits = _teacherLogits.index_select(0, index);
            }
            else
            {
                using var noGrad = no_grad();
                teacherLogits = teacher.call(x);
            }

            var logits = Student.call(x);
            var hard = nn.functional.cross_entropy(logits, y);
            var kl = nn.functional.kl_div(nn.functional.log_softmax(logits / t, 1), nn.functional.log_softmax(teacherLogits / t, 1),
                reduction: nn.Reduction.Sum, log_target: true);
            var total = alpha * (kl * (t * t / indices.Length)) + (1 - alpha) * hard;
            _optimizer.zero_grad();
            total.backward();
            _optimizer.step();
            lossSum += total.item<float>() * indices.Length;
        }
        double loop = clock.Elapsed.TotalSeconds;
        var (accuracy, _) = Validate();
        double seconds = clock.Elapsed.TotalSeconds;
        return new EpochTiming(epoch, loop, seconds, lossSum / train.Count, accuracy);
    }

    /// <summary>Teacher logits for every row of <paramref name="features"/>, in eval mode, in batches of 512,
    /// with one dispose scope per batch so that only the logits outlive it.</summary>
    public static Tensor TeacherLogits(nn.Module<Tensor, Tensor> teacher, Tensor features)
    {
        long count = features.shape[0];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var parts = new List<Tensor>();
        for (long start = 0; start < count; start += BenchContext.EvalBatchSize)
        {
            using var batchScope = NewDisposeScope();
            var batch = features.narrow(0, start, Math.Min(BenchContext.EvalBatchSize, count - start));
            parts.Add(teacher.call(batch).MoveToOuterDisposeScope());
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary>What Evaluator.Evaluate computes: summed cross-entropy and top-1 hits in batches of 512.</summary>
    private (double Accuracy, double Loss) Validate()
    {
        var validation = _context.Data.Validation;
        Student.eval();
        long correct = 0;
        double lossSum = 0;
        using (no_grad())
        {
            for (long start = 0; start < validation.Count; start += BenchContext.EvalBatchSize)
            {
                using var scope = NewDisposeScope();
                long length = Math.Min(BenchContext.EvalBatchSize, validation.Count - start);
                var x = validation.Features.narrow(0, start, length);
                var y = validation.Labels.narrow(0, start, length);
                var logits = Student.call(x);
                lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
                correct += logits.argmax(1).eq(y).sum().item<long>();
            }
        }
        Student.train();
        return ((double)correct / validation.Count, lossSum / validation.Count);
    }

    public void Dispose()
    {
        _teacherLogits?.Dispose();
        _optimizer.Dispose();
        Student.Dispose();
    }
}
