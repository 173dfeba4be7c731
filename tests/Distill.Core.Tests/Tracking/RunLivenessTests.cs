using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

public sealed class RunLivenessTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string StartAndAbandonRun()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "crashed");
        tracker.LogMetric("loss", 0.5, 0);
        return tracker.RunId; // disposed without End
    }

    [Fact]
    public void DisposeWithoutEnd_LeavesTheRunRunningWhileItsProcessLives()
    {
        string runId = StartAndAbandonRun();

        using var store = RunStore.Open(_folder.Path);
        var run = store.GetRun(runId);
        Assert.Equal(RunStatus.Running, run.Status);
        Assert.Null(run.EndTime);
        Assert.Equal(0.5, run.Metrics["loss"]); // flushed by Dispose
    }

    [Fact]
    public void ARunningRunWhosePidIsGone_IsMarkedFailedOnOpen()
    {
        string runId = StartAndAbandonRun();
        // Linux caps pids at 2^22; no process has this one.
        _folder.ExecuteSql("UPDATE runs SET pid = @pid WHERE id = @id;", ("@pid", int.MaxValue), ("@id", runId));

        using var store = RunStore.Open(_folder.Path);
        var run = store.GetRun(runId);
        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.NotNull(run.EndTime);
        Assert.StartsWith("process died without ending the run (no heartbeat since ", run.Tags["error"]);
        Assert.Equal(0.5, run.Metrics["loss"]);
    }

    [Fact]
    public void ARunningRunWhosePidWasReused_IsMarkedFailedOnOpen()
    {
        string runId = StartAndAbandonRun();
        // Our own pid, but a process start time an hour earlier: the pid now belongs to another process.
        using var self = Process.GetCurrentProcess();
        long earlier = new DateTimeOffset(self.StartTime.ToUniversalTime()).AddHours(-1).ToUnixTimeMilliseconds();
        _folder.ExecuteSql("UPDATE runs SET process_start_time = @start WHERE id = @id;", ("@start", earlier), ("@id", runId));

        using var store = RunStore.Open(_folder.Path);
        Assert.Equal(RunStatus.Failed, store.GetRun(runId).Status);
    }

    [Fact]
    public void ARunOfAnotherHost_IsMarkedFailedOnlyWhenItsHeartbeatIsStale()
    {
        string fresh = StartAndAbandonRun();
        string stale = StartAndAbandonRun();
        long threeMinutesAgo = DateTimeOffset.UtcNow.AddMinutes(-3).ToUnixTimeMilliseconds();
        _folder.ExecuteSql("UPDATE runs SET host = 'some-other-host';");
        _folder.ExecuteSql("UPDATE runs SET heartbeat = @hb WHERE id = @id;", ("@hb", threeMinutesAgo), ("@id", stale));

        using var store = RunStore.Open(_folder.Path);
        Assert.Equal(RunStatus.Running, store.GetRun(fresh).Status);
        var failed = store.GetRun(stale);
        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(threeMinutesAgo), failed.EndTime);
        Assert.Contains(RunStore.FormatTime(threeMinutesAgo), failed.Tags["error"]);
    }

    [Fact]
    public void ARunOwnedByAnotherLiveProcess_CannotBeResumed()
    {
        string runId = StartAndAbandonRun();
        _folder.ExecuteSql("UPDATE runs SET host = 'some-other-host';"); // fresh heartbeat: alive elsewhere

        using var store = RunStore.Open(_folder.Path);
        var error = Assert.Throws<InvalidInputException>(() => store.ResumeRun(runId));
        Assert.Contains("still running", error.Message);
        Assert.Contains("some-other-host", error.Message);
    }

    [Fact]
    public void AFailedCrashedRun_CanBeResumed()
    {
        string runId = StartAndAbandonRun();
        _folder.ExecuteSql("UPDATE runs SET pid = @pid WHERE id = @id;", ("@pid", int.MaxValue), ("@id", runId));

        using var store = RunStore.Open(_folder.Path);
        Assert.Equal(RunStatus.Failed, store.GetRun(runId).Status);
        using var tracker = store.ResumeRun(runId);
        tracker.LogMetric("loss", 0.25, 1);
        tracker.End(RunStatus.Finished);

        var run = store.GetRun(runId);
        Assert.Equal(RunStatus.Finished, run.Status);
        Assert.False(run.Tags.ContainsKey("error"));
        Assert.Equal(0.25, run.Metrics["loss"]);
    }

    [Fact]
    public void AStoreLeftByAKilledProcess_OpensWithItsWriteAheadLog()
    {
        using var crashed = new TempStoreFolder();
        string runId;
        using (var store = RunStore.Open(_folder.Path))
        using (var tracker = store.StartRun("exp", "killed"))
        {
            runId = tracker.RunId;
            for (int step = 0; step < StoreTracker.FlushThreshold; step++)
                tracker.LogMetric("loss", step, step); // the threshold flush commits these to the -wal file
            // Copying the files while the connections are open gives what a killed process leaves behind.
            foreach (string suffix in new[] { "", "-wal", "-shm" })
                File.Copy(_folder.DatabasePath + suffix, crashed.DatabasePath + suffix);
        }
        Assert.True(new FileInfo(crashed.DatabasePath + "-wal").Length > 0);

        using var reopened = RunStore.Open(crashed.Path);
        Assert.Equal(StoreTracker.FlushThreshold, reopened.GetMetricHistory(runId, "loss").Count);
    }

    [Fact]
    public void ALiveTracker_WritesHeartbeats()
    {
        using var store = RunStore.Open(_folder.Path);
        store.HeartbeatInterval = TimeSpan.Zero; // a heartbeat on every timer tick
        using var tracker = store.StartRun("exp", "alive");
        long first = ReadHeartbeat(tracker.RunId);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (ReadHeartbeat(tracker.RunId) == first && DateTime.UtcNow < deadline)
            Thread.Sleep(100);

        Assert.True(ReadHeartbeat(tracker.RunId) > first);
        tracker.End(RunStatus.Finished);
    }

    private long ReadHeartbeat(string runId)
    {
        using var connection = new SqliteConnection($"Data Source={_folder.DatabasePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT heartbeat FROM runs WHERE id = $id;";
        command.Parameters.AddWithValue("$id", runId);
        return (long)command.ExecuteScalar()!;
    }
}
