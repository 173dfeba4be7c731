using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

public sealed class RunStoreConcurrencyTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void TwoStoresOnOneFolder_WriteAtTheSameTimeAndBothComplete()
    {
        const int Points = 2_000;
        var start = new Barrier(2);
        var runIds = new string[2];
        var errors = new Exception?[2];

        // Each writer has its own RunStore and connections, as two processes would; they even
        // create the database at the same moment.
        var writers = Enumerable.Range(0, 2).Select(w => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                using var store = RunStore.Open(_folder.Path);
                using var tracker = store.StartRun("parallel", $"writer-{w}");
                runIds[w] = tracker.RunId;
                for (int step = 0; step < Points; step++)
                {
                    tracker.LogMetric("loss", w + step / (double)Points, step);
                    if (step % 400 == 0)
                        tracker.SetTag("progress", step.ToString());
                }
                tracker.End(RunStatus.Finished);
            }
            catch (Exception e)
            {
                errors[w] = e;
            }
        })).ToList();
        writers.ForEach(t => t.Start());
        writers.ForEach(t => t.Join());

        Assert.Equal([null, null], errors);
        using var reader = RunStore.Open(_folder.Path);
        Assert.Equal(2, reader.ListRuns("parallel").Count);
        for (int w = 0; w < 2; w++)
        {
            var run = reader.GetRun(runIds[w]);
            Assert.Equal(RunStatus.Finished, run.Status);
            var history = reader.GetMetricHistory(run.Id, "loss");
            Assert.Equal(Points, history.Count);
            Assert.Equal(Enumerable.Range(0, Points).Select(s => (long)s), history.Select(p => p.Step));
            Assert.All(history, p => Assert.Equal(w, (int)Math.Floor(p.Value)));
        }
    }

    [Fact]
    public void OneTrackerUsedFromManyThreads_LosesNoPoints()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "threads");
        Parallel.For(0, 4, thread =>
        {
            for (int i = 0; i < 1_500; i++)
                tracker.LogMetric($"thread{thread}", i, i);
        });
        tracker.End(RunStatus.Finished);

        for (int thread = 0; thread < 4; thread++)
            Assert.Equal(1_500, store.GetMetricHistory(tracker.RunId, $"thread{thread}").Count);
    }
}
