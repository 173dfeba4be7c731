using System.Globalization;
using Distill.Core.Distillation;
using Distill.Core.Export.Energy;
using Distill.Core.Models;
using Distill.Core.Tests.Data;
using Distill.Core.Tracking;
using Distill.Core.Training;
using Serilog;

namespace Distill.Core.Tests.Training;

/// <summary>
/// The energy of a training run (energy/train_joules, energy/&lt;phase&gt;/train_joules, the energy_method tag): the
/// CPU-time estimate on this machine (no RAPL here), and RAPL on a fake powercap tree laid out as the kernel does
/// (see <see cref="Export.EnergyMeterTests"/>), whose package counter the test advances by one joule at the end of every
/// epoch, across a wrap, so that the run's figures are exact; a run interrupted and resumed adds up to the same total.
/// </summary>
public sealed class TrainingEnergyTests : IDisposable
{
    private const long Range = 262_143_328_850; // a real package's max_energy_range_uj

    private readonly string _root = Directory.CreateTempSubdirectory("distill-train-energy-").FullName;

    private string Powercap => Path.Combine(_root, "powercap");

    private string Counter => Path.Combine(Powercap, "intel-rapl:0", "energy_uj");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void FakeRapl(long energy)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Counter)!);
        File.WriteAllText(Path.Combine(Powercap, "intel-rapl:0", "name"), "package-0\n");
        File.WriteAllText(Path.Combine(Powercap, "intel-rapl:0", "max_energy_range_uj"), Range.ToString(CultureInfo.InvariantCulture) + "\n");
        SetCounter(energy);
    }

    private void SetCounter(long energy) => File.WriteAllText(Counter, energy.ToString(CultureInfo.InvariantCulture) + "\n");

    private long ReadCounter() => long.Parse(File.ReadAllText(Counter).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Advances the counter by one joule, wrapping at the range as the hardware does.</summary>
    private void AddJoule() => SetCounter((ReadCounter() + 1_000_000) % Range);

    private static RunPlan Plan(EnergyOptions energy) => new()
    {
        Name = "energy",
        Seed = 3,
        Data = TestData.DigitsOptions with { ValidationFraction = 0.1 },
        BaseDirectory = TestData.DataDir,
        Teacher = new TeacherOptions
        {
            Model = new ModelSpec { Arch = ModelArch.Mlp, Hidden = [32] },
            Train = new StageOptions { Name = "teacher", Epochs = 2, BatchSize = 128 },
        },
        Student = new StudentOptions { Model = new ModelSpec { Arch = ModelArch.Mlp, Hidden = [8] } },
        Stages =
        [
            new StageOptions { Name = "distil", Epochs = 3, BatchSize = 128, Loss = new LossOptions { Terms = [new KdOptions { Temperature = 2, Alpha = 0.5 }] } },
        ],
        Energy = energy,
    };

    private sealed class OnProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }

    private string Train(RunStore store, RunPlan plan, IProgress<TrainingProgress>? progress = null, string? resume = null,
        CancellationToken cancel = default)
    {
        var executor = new RunExecutor(store, new LoggerConfiguration().CreateLogger(), progress);
        return resume is null ? executor.Train(plan, cancel) : executor.Resume(plan, resume, cancel);
    }

    [Fact]
    public void On_the_estimate_path_the_run_logs_its_energy_with_the_method_and_it_scales_with_the_watts_per_core()
    {
        using var store = RunStore.Open(Path.Combine(_root, "store"));
        var missing = Path.Combine(_root, "no-powercap");
        var process = System.Diagnostics.Process.GetCurrentProcess();

        (RunRecord Run, double CpuSeconds) Run(double watts)
        {
            process.Refresh();
            var before = process.TotalProcessorTime;
            string id = Train(store, Plan(new EnergyOptions { WattsPerCore = watts, PowercapRoot = missing }));
            process.Refresh();
            return (store.GetRun(id), (process.TotalProcessorTime - before).TotalSeconds);
        }

        var (low, lowCpu) = Run(1);
        var (high, highCpu) = Run(100);
        foreach (var (run, watts, cpu) in new[] { (low, 1.0, lowCpu), (high, 100.0, highCpu) })
        {
            Assert.Equal("estimated:cpu-time", run.Tags[TrainingEnergy.MethodTag]);
            Assert.Equal(watts.ToString("R", CultureInfo.InvariantCulture), run.Tags[TrainingEnergy.WattsPerCoreTag]);
            double total = run.Metrics[TrainingEnergy.TotalMetric];
            // CPU seconds of the phases × the watts: more than nothing, at most the whole run's CPU time × the watts.
            Assert.InRange(total, 1e-6, watts * cpu * 1.01);
            Assert.Equal(total, run.Metrics["energy/teacher/train_joules"] + run.Metrics["energy/distil/train_joules"], 9);
        }
        // The two runs do the same work: 100× the watts is far more than 10× the joules.
        Assert.True(high.Metrics[TrainingEnergy.TotalMetric] > 10 * low.Metrics[TrainingEnergy.TotalMetric],
            $"{high.Metrics[TrainingEnergy.TotalMetric]} J at 100 W vs {low.Metrics[TrainingEnergy.TotalMetric]} J at 1 W");
    }

    [Fact]
    public void With_rapl_the_run_records_the_package_counter_across_a_wrap_and_a_resume_adds_to_the_checkpoint_total()
    {
        FakeRapl(Range - 2_500_000); // wraps during the third epoch
        var plan = Plan(new EnergyOptions { WattsPerCore = 10, PowercapRoot = Powercap });
        var epochEnds = new OnProgress(p =>
        {
            if (p.EpochEnd)
                AddJoule();
        });
        using var store = RunStore.Open(Path.Combine(_root, "store"));
        string id = Train(store, plan, epochEnds);
        var run = store.GetRun(id);
        Assert.Equal("measured:rapl", run.Tags[TrainingEnergy.MethodTag]);
        Assert.False(run.Tags.ContainsKey(TrainingEnergy.WattsPerCoreTag));
        Assert.Equal(2.0, run.Metrics["energy/teacher/train_joules"], 9);
        Assert.Equal(3.0, run.Metrics["energy/distil/train_joules"], 9);
        Assert.Equal(5.0, run.Metrics[TrainingEnergy.TotalMetric], 9);

        // Interrupted at the end of the student's second epoch, then resumed: the epochs after the checkpoint run again,
        // and the total is again one joule per epoch, not the resumed piece's alone.
        using var cancel = new CancellationTokenSource();
        var interrupting = new OnProgress(p =>
        {
            if (!p.EpochEnd)
                return;
            AddJoule();
            if (p.Phase == "distil" && p.Epoch == 2)
                cancel.Cancel();
        });
        string? killed = null;
        Assert.ThrowsAny<OperationCanceledException>(() => killed = Train(store, plan, interrupting, cancel: cancel.Token));
        killed = store.ListRuns().Where(r => r.Status == RunStatus.Killed && r.ParentRunId is null).Select(r => r.Id).Single();
        string resumed = Train(store, plan, epochEnds, resume: killed);
        var again = store.GetRun(resumed);
        Assert.Equal(RunStatus.Finished, again.Status);
        Assert.Equal("measured:rapl", again.Tags[TrainingEnergy.MethodTag]);
        Assert.Equal(2.0, again.Metrics["energy/teacher/train_joules"], 9);
        Assert.Equal(3.0, again.Metrics["energy/distil/train_joules"], 9);
        Assert.Equal(5.0, again.Metrics[TrainingEnergy.TotalMetric], 9);
    }

    [Fact]
    public void A_resumed_run_keeps_its_method_and_continues_its_totals()
    {
        var log = new LoggerConfiguration().CreateLogger();
        FakeRapl(1_000);
        var rapl = new EnergyOptions { PowercapRoot = Powercap, WattsPerCore = 7 };
        var totals = new Dictionary<string, double> { ["teacher"] = 4, ["distil"] = 1.5 };

        // Estimated before: estimated after, even where RAPL can now be read, with the recipe's watts.
        var estimate = TrainingEnergy.Open(rapl, ("estimated:cpu-time", totals), log);
        Assert.Equal("estimated:cpu-time", estimate.Method);
        Assert.Equal(7, estimate.WattsPerCore);
        Assert.Equal(5.5, estimate.Total, 9);

        // Measured before: measured after, adding the counter's advance (here across a wrap) to the phase's total.
        SetCounter(Range - 500);
        var measured = TrainingEnergy.Open(rapl, ("measured:rapl", totals), log);
        measured.Start();
        SetCounter(1_500);
        measured.Lap("distil");
        Assert.Equal("measured:rapl", measured.Method);
        Assert.Null(measured.WattsPerCore);
        Assert.Equal(1.5 + 0.002, measured.Joules["distil"], 9);
        Assert.Equal(4, measured.Joules["teacher"], 9);

        // Measured before, and this machine cannot read RAPL: nothing more is recorded rather than mixing methods; the
        // same for a checkpoint written before energy was recorded.
        var noRapl = rapl with { PowercapRoot = Path.Combine(_root, "missing") };
        Assert.Null(TrainingEnergy.Open(noRapl, ("measured:rapl", totals), log).Method);
        Assert.Null(TrainingEnergy.Open(noRapl, (null, null), log).Method);
        Assert.Equal("estimated:cpu-time", TrainingEnergy.Open(noRapl, null, log).Method);
    }
}
