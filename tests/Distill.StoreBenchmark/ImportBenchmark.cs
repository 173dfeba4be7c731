using System.Diagnostics;
using System.Globalization;
using Distill.Core.Tracking;

/// <summary>
/// Writes <c>stores</c> trial stores shaped like those of a Slurm sweep's tasks (a copy of the sweep run, the trial's run
/// with 60 params, 500 step losses and 20 epochs of validation metrics, one child run for its stage, a 64 KiB artifact),
/// then times importing them all into one store, and importing them all again (nothing changes the second time).
/// </summary>
internal static class ImportBenchmark
{
    public static void Run(int stores)
    {
        string folder = Path.Combine(Path.GetTempPath(), "distill-import-benchmark-" + Guid.NewGuid().ToString("N"));
        try
        {
            string main = Path.Combine(folder, "main");
            string sweepId;
            using (var store = RunStore.Open(main))
            using (var sweep = store.StartRun("benchmark", "sweep"))
            {
                sweepId = sweep.RunId;
                sweep.End(RunStatus.Finished);
            }
            var sources = new List<string>();
            for (int i = 0; i < stores; i++)
            {
                string source = Path.Combine(folder, "trials", i.ToString(CultureInfo.InvariantCulture), "store");
                using var store = RunStore.Open(source);
                store.Import(main, [sweepId]);
                WriteTrial(store, sweepId, i);
                sources.Add(source);
            }

            using var target = RunStore.Open(main);
            var clock = Stopwatch.StartNew();
            int added = sources.Sum(source => target.Import(source).Added.Count);
            double first = clock.Elapsed.TotalSeconds;
            clock.Restart();
            int again = sources.Sum(source => target.Import(source).Added.Count);
            double second = clock.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"import of {stores} trial stores: {first:F2} s ({added} runs added); again: {second:F2} s ({again} added)"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void WriteTrial(RunStore store, string sweepId, int index)
    {
        using var trial = store.StartRun("benchmark", "trial", sweepId);
        trial.SetTag("distill.sweep.trial", index.ToString(CultureInfo.InvariantCulture));
        trial.LogParams(Enumerable.Range(0, 60).ToDictionary(k => $"param.{k}", k => (k * index).ToString(CultureInfo.InvariantCulture)));
        var random = new Random(index);
        using (var stage = store.StartRun("benchmark", "stage", trial.RunId))
        {
            for (int step = 0; step < 500; step++)
                stage.LogMetric("train/step_loss", 2.0 * Math.Exp(-step / 100.0) + 0.1 * random.NextDouble(), step);
            stage.End(RunStatus.Finished);
        }
        for (int epoch = 1; epoch <= 20; epoch++)
            trial.LogMetric("val/acc", 1 - 0.5 / epoch - 0.05 * random.NextDouble(), epoch);
        File.WriteAllBytes(Path.Combine(trial.ArtifactDirectory, "model.bin"), new byte[64 * 1024]);
        trial.RegisterArtifact("model.bin");
        trial.End(RunStatus.Finished);
    }
}
