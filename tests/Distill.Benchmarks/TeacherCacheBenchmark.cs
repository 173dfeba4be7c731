using Distill.Core.Distillation;
using static TorchSharp.torch;

namespace Distill.Benchmarks;

public sealed record TeacherCacheResult(
    int Repetitions,
    string Timed,
    IReadOnlyList<EpochTiming> Cached,
    IReadOnlyList<EpochTiming> Uncached,
    double CachedEpochMedianSeconds,
    double UncachedEpochMedianSeconds,
    double UncachedOverCached,
    double CacheBuildInRunSeconds,
    double CacheBuildMedianSeconds,
    double ScopedBuildMedianSeconds,
    CacheBuildProfile CacheBuildProfile,
    CacheBuildProfile ScopedBuildProfile,
    long CacheBytes,
    long CacheSamples,
    double BreakEvenEpochs,
    double BreakEvenEpochsWithScopedBuild,
    ModelCompute Teacher,
    ModelCompute Student,
    double MacRatio,
    double ParameterRatio,
    double TeacherForwardMillisecondsPer1000,
    double StudentForwardMillisecondsPer1000,
    double ForwardTimeRatio);

/// <summary>KD epochs through StageTrainer with the teacher cache and with a teacher forward every step,
/// the one-off cost and memory of the cache, and how much more compute the teacher is than the student.</summary>
public static class TeacherCacheBenchmark
{
    public const string Timed =
        "one KD epoch through StageTrainer (steps + validation, its own stopwatch); 'cached' looks up teacher logits, " +
        "'uncached' runs the teacher (eval, no_grad) on every batch; one phase of 1 + N epochs each, alternated epoch by epoch, " +
        "epoch 0 = warm-up; the cache build is timed on its own";

    public static TeacherCacheResult Run(BenchContext context, int repetitions, Action<string> log)
    {
        double buildInRun;
        List<EpochTiming> cachedEpochs, uncachedEpochs;
        using (var cached = new DistillSession(context, cacheTeacher: true, epochs: repetitions + 1, "cache-on"))
        using (var uncached = new DistillSession(context, cacheTeacher: false, epochs: repetitions + 1, "cache-off"))
        {
            cached.RunAll(epoch =>
            {
                string warm = epoch == 0 ? " (warm-up)" : "";
                log($"teacher-cache: epoch {epoch}{warm} cached   {cached.Epochs[^1].EpochSeconds:F3} s");
                uncached.RunEpoch(epoch);
                log($"teacher-cache: epoch {epoch}{warm} uncached {uncached.Epochs[^1].EpochSeconds:F3} s");
            });
            buildInRun = cached.LastSetupSeconds;
            cachedEpochs = cached.Epochs.ToList();
            uncachedEpochs = uncached.Epochs.ToList();
        }

        log("teacher-cache: cache builds (TeacherOutputCache.Build vs one dispose scope per batch)");
        var teacher = context.Teacher;
        var features = context.Data.Train.Features;
        long bytes = 0, samples = 0;
        IDisposable DistillBuild()
        {
            var cache = TeacherOutputCache.Build(teacher, features, [], BenchContext.EvalBatchSize);
            bytes = cache.Bytes;
            samples = cache.Count;
            return cache;
        }
        IDisposable ScopedBuild() => HandSession.TeacherLogits(teacher, features);

        // The first build of each kind also counts live tensors (hooks cost a few calls per batch).
        var buildProfile = CacheBuildProfile.Measure(teacher, DistillBuild);
        var scopedProfile = CacheBuildProfile.Measure(teacher, ScopedBuild);
        var buildTimes = new List<double> { buildProfile.Seconds };
        var scopedTimes = new List<double> { scopedProfile.Seconds };
        log($"teacher-cache: build 1/{repetitions}: TeacherOutputCache.Build {buildTimes[^1]:F3} s, scoped {scopedTimes[^1]:F3} s");
        for (int i = 1; i < repetitions; i++)
        {
            buildTimes.Add(CacheBuildProfile.Time(DistillBuild));
            scopedTimes.Add(CacheBuildProfile.Time(ScopedBuild));
            log($"teacher-cache: build {i + 1}/{repetitions}: TeacherOutputCache.Build {buildTimes[^1]:F3} s, scoped {scopedTimes[^1]:F3} s");
        }

        log("teacher-cache: student forward");
        using var student = context.BuildStudent();
        student.eval();
        var studentTimes = new List<double>();
        for (int i = 0; i < repetitions; i++)
            studentTimes.Add(CacheBuildProfile.Time(() => HandSession.TeacherLogits(student, features)));

        var teacherCompute = ModelCompute.Of(teacher);
        var studentCompute = ModelCompute.Of(student);
        double cachedEpoch = Stats.Median(cachedEpochs.Skip(1).Select(e => e.EpochSeconds));
        double uncachedEpoch = Stats.Median(uncachedEpochs.Skip(1).Select(e => e.EpochSeconds));
        double build = Stats.Median(buildTimes);
        double scoped = Stats.Median(scopedTimes);
        double studentForward = Stats.Median(studentTimes);
        double saved = uncachedEpoch - cachedEpoch;
        long count = features.shape[0];
        return new TeacherCacheResult(
            repetitions,
            Timed,
            cachedEpochs,
            uncachedEpochs,
            cachedEpoch,
            uncachedEpoch,
            uncachedEpoch / cachedEpoch,
            buildInRun,
            build,
            scoped,
            buildProfile,
            scopedProfile,
            bytes,
            samples,
            saved > 0 ? build / saved : double.PositiveInfinity,
            saved > 0 ? scoped / saved : double.PositiveInfinity,
            teacherCompute,
            studentCompute,
            (double)teacherCompute.Macs / studentCompute.Macs,
            (double)teacherCompute.Parameters / studentCompute.Parameters,
            1e6 * scoped / count,
            1e6 * studentForward / count,
            scoped / studentForward);
    }
}
