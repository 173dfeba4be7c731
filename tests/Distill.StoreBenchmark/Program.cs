using System.Diagnostics;
using System.Globalization;
using Distill.Core.Tracking;
using Distill.Core.Tracking.Analysis;

// Times listing, comparing and plotting against a store holding one run with 100,000 metric points
// (and 200 ordinary runs beside it). Usage: dotnet run -c Release --project tests/Distill.StoreBenchmark [points] [repeats]
// With "import [stores]": times `runs import` of that many trial stores (as the tasks of a Slurm sweep write them) into one.
if (args.Length > 0 && args[0] == "import")
{
    ImportBenchmark.Run(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100);
    return;
}
int points = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
int repeats = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 7;
string folder = Path.Combine(Path.GetTempPath(), "distill-store-benchmark-" + Guid.NewGuid().ToString("N"));

try
{
    using var store = RunStore.Open(folder);
    var clock = Stopwatch.StartNew();
    string bigId = LogRun(store, "big", points, lr: "0.001");
    Console.WriteLine($"logged {points:N0} points in {clock.Elapsed.TotalMilliseconds:F0} ms");
    string otherId = "";
    for (int i = 0; i < 200; i++)
        otherId = LogRun(store, $"small-{i}", 500, lr: (0.001 * (i + 1)).ToString(CultureInfo.InvariantCulture));

    string png = Path.Combine(folder, "curves.png");
    var query = new RunQuery
    {
        Filter = "metrics.val/acc > 0.5 and params.optimizer.lr like '0.0%'",
        Sort = "-metrics.val/acc",
        Limit = 50,
    };
    Report("list (filter + sort, 201 runs)", repeats, () => RunQueryExecutor.Execute(store, query).Runs.Count);
    Report("compare (2 runs)", repeats, () => RunComparison.Of([store.GetRun(bigId), store.GetRun(otherId)]).Metrics.Rows.Count);
    Report($"read history ({points:N0} points)", repeats, () => store.GetMetricHistory(bigId, "train/step_loss").Count);
    Report($"plot to PNG ({points:N0} points)", repeats, () =>
    {
        CurvePlot.SaveRunMetrics(store, [store.GetRun(bigId)], ["train/step_loss"], png);
        return new FileInfo(png).Length;
    });
}
finally
{
    Directory.Delete(folder, recursive: true);
}

static string LogRun(RunStore store, string name, int steps, string lr)
{
    using var tracker = store.StartRun("benchmark", name);
    tracker.LogParams(new Dictionary<string, string> { ["optimizer.lr"] = lr, ["student.model.arch"] = "mlp" });
    var random = new Random(steps);
    for (int step = 0; step < steps; step++)
        tracker.LogMetric("train/step_loss", 2.0 * Math.Exp(-step / (steps / 5.0)) + 0.1 * random.NextDouble(), step);
    for (int epoch = 1; epoch <= 20; epoch++)
        tracker.LogMetric("val/acc", 1 - 0.5 / epoch - 0.05 * random.NextDouble(), epoch);
    tracker.End(RunStatus.Finished);
    return tracker.RunId;
}

static void Report(string what, int repeats, Func<long> action)
{
    action(); // warm-up: JIT, SQLite page cache, fonts
    var times = new List<double>();
    long result = 0;
    for (int i = 0; i < repeats; i++)
    {
        var clock = Stopwatch.StartNew();
        result = action();
        times.Add(clock.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{what,-36} median {times[times.Count / 2],8:F1} ms  min {times[0],8:F1} ms  max {times[^1],8:F1} ms  (result {result})"));
}
