using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

public sealed class RunStoreImportTests : IDisposable
{
    private readonly TempStoreFolder _source = new();
    private readonly TempStoreFolder _target = new();

    public void Dispose()
    {
        _source.Dispose();
        _target.Dispose();
    }

    /// <summary>A parent with one finished child that has params, a two-point metric curve, a tag and an artifact file.</summary>
    private (string Parent, string Child) WriteSource()
    {
        using var store = RunStore.Open(_source.Path);
        using var parent = store.StartRun("sweeps", "tiny-sweep");
        string childId;
        using (var child = store.StartRun("sweeps", "tiny", parent.RunId))
        {
            childId = child.RunId;
            child.LogParams(new Dictionary<string, string> { ["seed"] = "3" });
            child.LogMetric("train/loss", 2.0, 0);
            child.LogMetric("train/loss", 0.5, 1);
            child.SetTag("distill.sweep.trial", "1");
            File.WriteAllText(Path.Combine(child.ArtifactDirectory, "note.txt"), "hello");
            child.RegisterArtifact("note.txt");
            File.WriteAllText(Path.Combine(child.ArtifactDirectory, "unregistered.bin"), "checkpoint");
            child.End(RunStatus.Finished);
        }
        parent.End(RunStatus.Finished);
        return (parent.RunId, childId);
    }

    [Fact]
    public void Import_KeepsIdsParentLinksHistoriesTagsAndArtifacts()
    {
        var (parentId, childId) = WriteSource();
        using var target = RunStore.Open(_target.Path);

        var result = target.Import(_source.Path);

        Assert.Equal(new[] { parentId, childId }.Order(), result.Added.Order());
        Assert.Empty(result.Updated);
        var child = target.GetRun(childId);
        Assert.Equal(parentId, child.ParentRunId);
        Assert.Equal("sweeps", child.Experiment);
        Assert.Equal(RunStatus.Finished, child.Status);
        Assert.Equal("3", child.Params["seed"]);
        Assert.Equal("1", child.Tags["distill.sweep.trial"]);
        Assert.Equal([2.0, 0.5], target.GetMetricHistory(childId, "train/loss").Select(p => p.Value));
        Assert.Equal(0.5, child.Metrics["train/loss"]);
        Assert.Equal("hello", File.ReadAllText(target.ResolveArtifact(childId, "note.txt")));
        // The whole folder comes along (a checkpoint that is not registered yet), so a copied run can be resumed here.
        Assert.True(File.Exists(Path.Combine(_target.Path, "artifacts", childId, "unregistered.bin")));
    }

    [Fact]
    public void ImportingTwice_ChangesNothing_AndAgainAfterTheSourceWentOn_BringsTheNewState()
    {
        var (_, childId) = WriteSource();
        using var target = RunStore.Open(_target.Path);
        target.Import(_source.Path);

        var again = target.Import(_source.Path);
        Assert.Empty(again.Added);
        Assert.Empty(again.Updated);
        Assert.Equal(2, again.Unchanged);
        Assert.Equal(2, target.GetMetricHistory(childId, "train/loss").Count);

        Thread.Sleep(5); // a later end time than the first end
        using (var source = RunStore.Open(_source.Path))
        using (var resumed = source.ResumeRun(childId))
        {
            resumed.LogMetric("train/loss", 0.25, 2);
            resumed.End(RunStatus.Finished);
        }
        var third = target.Import(_source.Path);
        Assert.Equal([childId], third.Updated);
        Assert.Equal([2.0, 0.5, 0.25], target.GetMetricHistory(childId, "train/loss").Select(p => p.Value));
    }

    [Fact]
    public void TheTargetsNewerCopy_IsNotOverwrittenByAnOlderOne()
    {
        var (parentId, _) = WriteSource();
        using var target = RunStore.Open(_target.Path);
        target.Import(_source.Path);
        Thread.Sleep(5);
        using (var resumed = target.ResumeRun(parentId))
        {
            resumed.SetTag("best", "trial 1");
            resumed.End(RunStatus.Failed, "one trial failed");
        }

        var result = target.Import(_source.Path);

        Assert.Empty(result.Updated);
        var parent = target.GetRun(parentId);
        Assert.Equal(RunStatus.Failed, parent.Status);
        Assert.Equal("trial 1", parent.Tags["best"]);
    }

    [Fact]
    public void ImportingOnlyAChild_WhoseParentIsNowhere_IsRefusedAndWritesNothing()
    {
        var (_, childId) = WriteSource();
        using var target = RunStore.Open(_target.Path);

        var error = Assert.Throws<InvalidInputException>(() => target.Import(_source.Path, [childId]));

        Assert.Contains("parent run", error.Message, StringComparison.Ordinal);
        Assert.Empty(target.FindRuns(new RunSelection()));
    }

    [Fact]
    public void ImportingAStoreIntoItself_OrAFolderWithoutAStore_IsRefused()
    {
        using var target = RunStore.Open(_target.Path);
        Assert.Contains("is the store being imported into", Assert.Throws<InvalidInputException>(() => target.Import(_target.Path)).Message, StringComparison.Ordinal);
        Assert.Contains("not a run store", Assert.Throws<InvalidInputException>(() => target.Import(_source.Path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EndAbandonedRun_EndsOnlyARunningRun()
    {
        using var store = RunStore.Open(_target.Path);
        using var running = store.StartRun("e", "r");
        Assert.True(store.EndAbandonedRun(running.RunId, RunStatus.Failed, "task gone"));
        Assert.Equal(RunStatus.Failed, store.GetRun(running.RunId).Status);
        Assert.Equal("task gone", store.GetRun(running.RunId).Tags["error"]);
        Assert.False(store.EndAbandonedRun(running.RunId, RunStatus.Killed, "again"));
        Assert.Equal("task gone", store.GetRun(running.RunId).Tags["error"]);
    }
}
