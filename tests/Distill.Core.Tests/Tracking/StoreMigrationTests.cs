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
        _folder.ExecuteSql("DROP TABLE mlflow_skipped; DROP INDEX runs_by_parent; ALTER TABLE runs DROP COLUMN deleted_time; DROP TABLE mlflow_sent; DROP TABLE mlflow_runs; PRAGMA user_version = 1;");

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

    [Fact]
    public void A_version_3_store_gets_its_param_keys_in_the_spelling_MLflow_accepts()
    {
        string id;
        using (var store = RunStore.Open(_folder.Path))
        {
            using var tracker = store.StartRun("exp", "old-run");
            tracker.LogParams(new Dictionary<string, string> { ["student.model.arch"] = "mlp", ["stages.2.epochs"] = "5" });
            tracker.End(RunStatus.Finished);
            id = tracker.RunId;
        }
        // What version 3 wrote: list indices in brackets. stages[2].epochs clashes with a key already there.
        _folder.ExecuteSql(
            """
            INSERT INTO params (run_id, key, value) VALUES
                (@id, 'stages[0].optimizer.lr', '0.002'), (@id, 'stages[1].loss.hints[0].weight', '0.5'),
                (@id, 'export[0].target', 'onnx-x86'), (@id, 'stages[2].epochs', '4');
            DROP TABLE mlflow_skipped; PRAGMA user_version = 3;
            """,
            ("@id", id));

        using (var store = RunStore.Open(_folder.Path))
        {
            var run = store.GetRun(id);
            Assert.Equal(
                ["export.0.target", "stages.0.optimizer.lr", "stages.1.loss.hints.0.weight", "stages.2.epochs", "stages[2].epochs", "student.model.arch"],
                run.Params.Keys.Order(StringComparer.Ordinal));
            Assert.Equal("0.002", run.Params["stages.0.optimizer.lr"]);
            Assert.Equal("0.5", run.Params["stages.1.loss.hints.0.weight"]);
            Assert.Equal("5", run.Params["stages.2.epochs"]); // the clash leaves both as they were
            Assert.Equal("4", run.Params["stages[2].epochs"]);
        }
    }
}
