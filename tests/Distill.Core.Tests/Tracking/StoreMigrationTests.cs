using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

public sealed class StoreMigrationTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_version_1_store_is_migrated_keeping_its_runs()
    {
        string id;
        using (var store = RunStore.Open(_folder.Path))
        {
            using var tracker = store.StartRun("exp", "old-run");
            tracker.LogMetric("val/acc", 0.5, 1);
            tracker.End(RunStatus.Finished);
            id = tracker.RunId;
        }
        // Turn the database back into what version 1 wrote.
        _folder.ExecuteSql("DROP INDEX runs_by_parent; ALTER TABLE runs DROP COLUMN deleted_time; DROP TABLE mlflow_sent; DROP TABLE mlflow_runs; PRAGMA user_version = 1;");

        using (var store = RunStore.Open(_folder.Path))
        {
            var run = Assert.Single(store.ListRuns());
            Assert.Equal(id, run.Id);
            Assert.Null(run.DeletedTime);
            Assert.Equal(0.5, run.Metrics["val/acc"]);
            store.DeleteRun(id);
            Assert.Empty(store.ListRuns());
            Assert.Equal([id], store.FindRuns(new RunSelection { Deleted = true }).Select(r => r.Id));
        }
    }
}
