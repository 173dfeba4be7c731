using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Distill.Benchmarks;

/// <summary>Everything one invocation measured.</summary>
public sealed record BenchReport(string Which, MachineInfo Machine, string Data, long TrainSamples, long ValidationSamples,
    string Setup, OverheadResult? Overhead, TeacherCacheResult? TeacherCache)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public void WriteJson(string path)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions) + "\n");
    }

    public void WriteTable(TextWriter o)
    {
        o.WriteLine($"Distill benchmarks: {Which}");
        o.WriteLine();
        o.WriteLine("Method");
        o.WriteLine($"  machine      nproc {Machine.Nproc}, torch threads {Machine.TorchThreads} (interop {Machine.TorchInteropThreads}), {Machine.Cpu}");
        o.WriteLine($"  software     {Machine.Runtime}, TorchSharp {Machine.TorchSharp}, {Machine.Os}");
        o.WriteLine($"  load avg     {Machine.LoadAverageAtStart} at start, {Machine.LoadAverageAtEnd} at end (1/5/15 min)");
        o.WriteLine($"  data         {Data}: {TrainSamples:N0} train / {ValidationSamples:N0} validation, normalize standard");
        o.WriteLine($"  setup        {Setup}");

        if (Overhead is { } ov)
        {
            o.WriteLine();
            o.WriteLine($"overhead: StageTrainer vs hand-written loop, median of {ov.Repetitions} alternated epochs after one warm-up epoch each");
            o.WriteLine($"  timed: {ov.Timed}");
            o.WriteLine($"  {"",-36}{"Distill",10}{"hand loop",11}{"ratio",9}");
            o.WriteLine($"  {"epoch (steps + validation) s",-36}{S(ov.DistillEpochMedianSeconds),10}{S(ov.HandEpochMedianSeconds),11}{R(ov.Ratio),9}");
            o.WriteLine($"  {"steps only s",-36}{S(ov.DistillLoopMedianSeconds),10}{S(ov.HandLoopMedianSeconds),11}{R(ov.LoopRatio),9}");
            o.WriteLine($"  {"teacher-cache build, once s",-36}{S(ov.DistillCacheBuildSeconds),10}{S(ov.HandCacheBuildSeconds),11}{R(ov.DistillCacheBuildSeconds / ov.HandCacheBuildSeconds),9}");
            o.WriteLine($"  epochs s (first = warm-up)  Distill: {Join(ov.Distill.Select(e => e.EpochSeconds))}   hand: {Join(ov.Hand.Select(e => e.EpochSeconds))}");
            o.WriteLine($"  same work: max |weight diff| after each epoch {string.Join(" ", ov.MaxWeightDifferenceAfterEpoch.Select(d => d.ToString("G2", CultureInfo.InvariantCulture)))}; " +
                $"val acc Distill {Join(ov.Distill.Select(e => e.ValidationAccuracy))}, hand {Join(ov.Hand.Select(e => e.ValidationAccuracy))}");
            o.WriteLine($"  target epoch ratio <= 1.10: {(ov.WithinTenPercent ? "met" : "NOT met")}");
            o.WriteLine();
            o.WriteLine($"  per-step parts (micro-benchmarks, median of 5 rounds; extra = Distill - hand, x {ov.StepsPerEpoch} steps/epoch)");
            o.WriteLine($"  {"part",-44}{"Distill us",11}{"hand us",10}{"extra ms/ep",13}{"% of epoch",12}");
            foreach (var c in ov.StepCosts)
            {
                double extraMs = c.ExtraMicros * ov.StepsPerEpoch / 1000;
                o.WriteLine($"  {c.Part,-44}{F(c.DistillMicros, 2),11}{F(c.HandMicros, 2),10}{F(extraMs, 2),13}{F(100 * extraMs / 1000 / ov.HandEpochMedianSeconds, 3),12}");
            }
            o.WriteLine($"  {"sum of extras",-44}{"",11}{"",10}{F(ov.StepCostsExtraMillisecondsPerEpoch, 2),13}{F(ov.StepCostsExtraPercentOfHandEpoch, 3),12}");
            foreach (var c in ov.StepCosts)
                o.WriteLine($"    {c.Part}: {c.Note}");
        }

        if (TeacherCache is { } tc)
        {
            o.WriteLine();
            o.WriteLine($"teacher-cache: StageTrainer with and without the teacher cache, median of {tc.Repetitions} alternated epochs after one warm-up epoch each");
            o.WriteLine($"  timed: {tc.Timed}");
            o.WriteLine($"  {"epoch, cached teacher logits s",-46}{S(tc.CachedEpochMedianSeconds),12}");
            o.WriteLine($"  {"epoch, teacher forward every step s",-46}{S(tc.UncachedEpochMedianSeconds),12}");
            o.WriteLine($"  {"uncached / cached",-46}{R(tc.UncachedOverCached),12}");
            o.WriteLine($"  epochs s (first = warm-up)  cached: {Join(tc.Cached.Select(e => e.EpochSeconds))}   uncached: {Join(tc.Uncached.Select(e => e.EpochSeconds))}");
            o.WriteLine($"  {"cache memory (TeacherOutputCache.Bytes)",-46}{tc.CacheBytes,12:N0}  ({tc.CacheSamples:N0} samples x 10 float32 logits)");
            o.WriteLine($"  {"cache build inside StageTrainer.Run s",-46}{S(tc.CacheBuildInRunSeconds),12}");
            o.WriteLine($"  {"cache build, TeacherOutputCache.Build s",-46}{S(tc.CacheBuildMedianSeconds),12}  (median of {tc.Repetitions})");
            o.WriteLine($"  {"same forward, one dispose scope per batch s",-46}{S(tc.ScopedBuildMedianSeconds),12}  (median of {tc.Repetitions})");
            o.WriteLine($"  {"live tensors at first / last batch: Build",-46}{tc.CacheBuildProfile.LiveTensorsAtFirstBatch,6} / {tc.CacheBuildProfile.LiveTensorsAtLastBatch}");
            o.WriteLine($"  {"live tensors at first / last batch: scoped",-46}{tc.ScopedBuildProfile.LiveTensorsAtFirstBatch,6} / {tc.ScopedBuildProfile.LiveTensorsAtLastBatch}");
            o.WriteLine($"  {"teacher block + linear outputs, all batches",-46}{tc.CacheBuildProfile.ModuleOutputBytes / 1048576.0,12:F1} MiB  (held until Build returns when its batches are not scoped)");
            o.WriteLine($"  {"cache pays off after (epochs): Build / scoped",-46}{F(tc.BreakEvenEpochs, 2),12} / {F(tc.BreakEvenEpochsWithScopedBuild, 2)}");
            o.WriteLine();
            o.WriteLine($"  {"compute per sample",-36}{"teacher",13}{"student",13}{"ratio",9}");
            o.WriteLine($"  {"parameters",-36}{tc.Teacher.Parameters,13:N0}{tc.Student.Parameters,13:N0}{R(tc.ParameterRatio),9}");
            o.WriteLine($"  {"forward MACs",-36}{tc.Teacher.Macs,13:N0}{tc.Student.Macs,13:N0}{R(tc.MacRatio),9}");
            o.WriteLine($"  {"measured forward ms/1000 (eval, 512)",-36}{F(tc.TeacherForwardMillisecondsPer1000, 2),13}{F(tc.StudentForwardMillisecondsPer1000, 2),13}{R(tc.ForwardTimeRatio),9}");
            o.WriteLine($"  teacher >= 10x student MACs: {(tc.MacRatio >= 10 ? "yes" : "no")}");
            o.WriteLine("  layers (params / MACs)");
            foreach (var (role, compute) in new[] { ("teacher", tc.Teacher), ("student", tc.Student) })
                o.WriteLine($"    {role}: " + string.Join(", ", compute.Layers.Select(l => $"{l.Name} {l.Parameters:N0}/{l.Macs:N0}")));
        }
    }

    private static string Join(IEnumerable<double> values) => string.Join(" ", values.Select(v => v.ToString("F3", CultureInfo.InvariantCulture)));

    private static string S(double seconds) => seconds.ToString("F3", CultureInfo.InvariantCulture);
    private static string R(double ratio) => ratio.ToString("F3", CultureInfo.InvariantCulture);
    private static string F(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}
