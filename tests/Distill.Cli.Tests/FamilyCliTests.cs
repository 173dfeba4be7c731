using System.Text.RegularExpressions;
using Distill.Core.Export.Energy;
using Distill.Core.Tracking;
using Distill.Runtime;

namespace Distill.Cli.Tests;

/// <summary>A family made once for the tests of <see cref="FamilyCliTests"/>: two variants far apart, 310 parameters
/// (hidden [4]) and 38,922 (hidden [512]), so that the large one is both the more accurate and clearly the slower
/// and costlier per inference.</summary>
public sealed class DigitsFamily : IDisposable
{
    public DigitsFamily() => (Dir, Store, SweepId, Manifest) = Make();

    public TempDir Dir { get; }
    public string Store { get; }
    public string SweepId { get; }
    public string Manifest { get; }

    public void Dispose() => Dir.Dispose();

    private static (TempDir Dir, string Store, string SweepId, string Manifest) Make()
    {
        var dir = new TempDir();
        string recipe = TinyDigitsRun.WriteRecipe(dir);
        File.WriteAllText(recipe, File.ReadAllText(recipe).Replace("epochs: 1", "epochs: 4", StringComparison.Ordinal));
        string store = dir.File("store");
        var sweep = CliProcess.Run("sweep", recipe, "--grid", "student.model.hidden=[4],[512]", "--parallel", "1", "--store", store);
        Assert.True(sweep.ExitCode == 0, sweep.ToString());
        string sweepId = Regex.Match(sweep.StdErr, "sweep ([0-9a-f]{32}): 2 trial").Groups[1].Value;

        var export = CliProcess.Run("export", sweepId[..8], "--family", "--target", "x86-vnni", "--store", store);
        Assert.True(export.ExitCode == 0, export.ToString());
        string manifest = Path.Combine(store, "artifacts", sweepId, "exports", "x86-vnni", "family", "manifest.json");
        Assert.Contains($"family for x86-vnni: {manifest}", export.StdOut, StringComparison.Ordinal);
        return (dir, store, sweepId, manifest);
    }
}

/// <summary>A model family from a sweep (`distill export &lt;sweep&gt; --family`), read back by Distill.Runtime, and
/// `distill family pick|run`, with ONNX Runtime running the variants.</summary>
public sealed class FamilyCliTests(DigitsFamily made) : IClassFixture<DigitsFamily>
{
    [Fact]
    public void A_sweeps_trials_become_a_measured_family_that_the_runtime_picks_from_and_runs()
    {
        var (dir, store, sweepId, path) = (made.Dir, made.Store, made.SweepId, made.Manifest);
        var family = FamilyManifest.Load(path); // checks every file's sha256
        Assert.Equal("x86-vnni", family.Target);
        Assert.Equal(["student.model.hidden=[4]", "student.model.hidden=[512]"], family.Variants.Select(v => v.Name));
        Assert.Equal([64 * 4 + 4 + 4 * 10 + 10, 64 * 512 + 512 + 512 * 10 + 10], family.Variants.Select(v => v.Parameters));
        Assert.Equal(["input"], [family.Input.Name]);
        Assert.Equal([64], family.Input.Shape);
        string method = RaplMeter.TryOpen("/sys/class/powercap") is null ? "estimated:cpu-time" : "measured:rapl";
        using (var runs = RunStore.Open(store))
        {
            foreach (var (variant, trial) in family.Variants.Zip(runs.GetChildRuns(sweepId).OrderBy(r => r.Tags["distill.sweep.trial"])))
            {
                // The family's accuracy is the trial's x86-vnni export measured in ONNX Runtime, recorded in the trial's run.
                Assert.Equal(trial.Metrics["export/x86-vnni/test_acc"], variant.TestAccuracy, 12);
                Assert.Equal(new FileInfo(family.PathOf(variant)).Length, variant.SizeBytes);
                Assert.True(variant.Latency.Batch1Ms > 0 && variant.Latency.Batch64Ms > 0, $"{variant.Name}: {variant.Latency}");
                Assert.True(variant.PeakMemoryBytes > 0, $"{variant.Name}: peak memory {variant.PeakMemoryBytes}");
                Assert.True(variant.EnergyMjPerInference > 0);
                Assert.Equal(method, variant.EnergyMethod);
                Assert.NotNull(variant.ModelCard);
            }
        }
        var (small, large) = (family.Variants[0], family.Variants[1]);
        Assert.True(large.TestAccuracy > small.TestAccuracy, $"{large.TestAccuracy} vs {small.TestAccuracy}");
        Assert.True(large.Latency.Batch64Ms > small.Latency.Batch64Ms, $"{large.Latency} vs {small.Latency}");
        // The batch-64 figure is a whole batch's: clear for the large variant, while the small one's few microseconds
        // are per-call overhead at either batch size and may come out in either order.
        Assert.True(large.Latency.Batch64Ms > large.Latency.Batch1Ms, $"{large.Name}: {large.Latency}");

        var hot = CliProcess.Run("family", "pick", path, "--thermal", "serious");
        Assert.True(hot.ExitCode == 0, hot.ToString());
        Assert.Contains($"variant: {family.Variants.MinBy(v => v.Latency.Batch1Ms)!.Name} (", hot.StdOut, StringComparison.Ordinal);
        Assert.Contains("why:     thermal serious (from serious on: the fastest variant)", hot.StdOut, StringComparison.Ordinal);

        // Two readings on AC power, then a battery at 5 %: the most accurate variant serves until the cheapest one has
        // been the pick for 3 readings in a row (the default policy's hysteresis).
        string states = dir.File("states.jsonl");
        File.WriteAllLines(states, ["{\"power\": \"ac\"}", "{\"power\": \"ac\"}", "{\"power\": \"battery\", \"battery_percent\": 5}"]);
        var run = CliProcess.Run("family", "run", path, "--data", dir.File("recipe.yaml"), "--states", states, "--count", "8");
        Assert.True(run.ExitCode == 0, run.ToString());
        var served = run.StdOut.Split('\n').Where(l => Regex.IsMatch(l, @"^\d+\t")).Select(l => l.Split('\t')[1]).ToList();
        var cheapest = family.Variants.MinBy(v => (v.EnergyMjPerInference, v.Latency.Batch1Ms))!.Name;
        Assert.Equal([.. Enumerable.Repeat(large.Name, 4), .. Enumerable.Repeat(cheapest, 4)], served);
        Assert.Contains("switched after 3 reading(s): battery at 5 % (at or below 20 %: the cheapest variant)", run.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_families_and_unsatisfiable_policies_exit_2_naming_the_file_or_the_constraint()
    {
        var (store, sweepId, path) = (made.Store, made.SweepId, made.Manifest);
        var budget = CliProcess.Run("family", "pick", path, "--budget-ms", "0.00001");
        Assert.Equal(2, budget.ExitCode);
        Assert.Contains("the policy allows no variant: no variant meets the latency budget of 0.00001 ms at batch 1: the fastest, ", budget.StdErr, StringComparison.Ordinal);

        var tflite = CliProcess.Run("export", sweepId, "--family", "--target", "arm-cortex-a", "--store", store);
        Assert.Equal(2, tflite.ExitCode);
        Assert.Contains("--family: target arm-cortex-a writes tflite files; a family holds ONNX files", tflite.StdErr, StringComparison.Ordinal);

        string trial;
        using (var runs = RunStore.Open(store))
            trial = runs.GetChildRuns(sweepId).First().Id;
        var notSweep = CliProcess.Run("export", trial, "--family", "--target", "x86-vnni", "--store", store);
        Assert.Equal(2, notSweep.ExitCode);
        Assert.Contains($"run {trial} (tiny) is not a sweep", notSweep.StdErr, StringComparison.Ordinal);

        // A copy of the family, so that the other test's stays intact.
        using var copy = new TempDir();
        foreach (string original in Directory.GetFiles(Path.GetDirectoryName(path)!))
            File.Copy(original, copy.File(Path.GetFileName(original)));
        string file = copy.File("trial-1.onnx");
        File.AppendAllText(file, " ");
        var tampered = CliProcess.Run("family", "pick", copy.File("manifest.json"));
        Assert.Equal(2, tampered.ExitCode);
        Assert.Contains($"{copy.File("manifest.json")}: variant 'student.model.hidden=[512]': {file} has sha256 ", tampered.StdErr, StringComparison.Ordinal);
    }
}
