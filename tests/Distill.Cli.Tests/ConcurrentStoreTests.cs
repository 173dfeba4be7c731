using System.Diagnostics;

namespace Distill.Cli.Tests;

/// <summary>Two training processes writing to one store at the same time lose nothing.</summary>
public sealed class ConcurrentStoreTests
{
    [Fact]
    public async Task Two_processes_training_into_one_store_both_keep_every_metric_point()
    {
        using var store = new TempDir();
        string[] args = ["train", "configs/digits/kd.yaml", "--store", store.Path, "--json", "--threads", "1",
            "--set", "teacher.train.epochs=3", "--set", "stages[0].epochs=4"];
        var processes = Enumerable.Range(0, 2).Select(i =>
        {
            var process = Process.Start(CliProcess.StartInfo([.. args, "--set", $"seed={i + 1}"]))!;
            process.StandardInput.Close();
            return process;
        }).ToList();
        var readers = processes.Select(p => p.StandardOutput.ReadToEndAsync()).ToArray();
        var errorReaders = processes.Select(p => p.StandardError.ReadToEndAsync()).ToArray();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        foreach (var process in processes)
            await process.WaitForExitAsync(timeout.Token);
        var outputs = await Task.WhenAll(readers);
        var errors = await Task.WhenAll(errorReaders);
        for (int i = 0; i < 2; i++)
            Assert.True(processes[i].ExitCode == 0, $"process {i}: {errors[i]}");

        var runs = outputs.Select(o => new RunJsonView(o)).ToList();
        Assert.NotEqual(runs[0].Id, runs[1].Id);
        foreach (var run in runs)
        {
            // The store, read afresh, holds every point each process logged.
            var shown = new RunJsonView(CliProcess.Run("runs", "show", run.Id, "--store", store.Path, "--json").StdOut);
            Assert.Equal("FINISHED", shown.Status);
            Assert.Equal(run.Metrics, shown.Metrics);

            long train = long.Parse(run.Tag("data.sizes")!.Split(' ')[0]["train=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            long stepsPerEpoch = (train + 63) / 64;
            using var reader = Distill.Core.Tracking.RunStore.Open(store.Path);
            Assert.Equal(3 * stepsPerEpoch, reader.GetMetricHistory(run.Id, "teacher/train/step_loss").Count);
            Assert.Equal(4 * stepsPerEpoch, reader.GetMetricHistory(run.Id, "train/step_loss").Count);
            Assert.Equal(4, reader.GetMetricHistory(run.Id, "val/acc").Count);
        }
        var list = CliProcess.Run("runs", "list", "--store", store.Path, "--json");
        Assert.Contains(runs[0].Id, list.StdOut);
        Assert.Contains(runs[1].Id, list.StdOut);
    }
}
