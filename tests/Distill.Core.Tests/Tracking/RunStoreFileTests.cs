using Distill.Core.Tracking;
using Microsoft.Data.Sqlite;

namespace Distill.Core.Tests.Tracking;

public sealed class RunStoreFileTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void AGarbageFile_IsRejectedAndLeftUnchanged()
    {
        byte[] garbage = new byte[4096];
        new Random(7).NextBytes(garbage);
        File.WriteAllBytes(_folder.DatabasePath, garbage);

        var error = Assert.Throws<InvalidInputException>(() => RunStore.Open(_folder.Path));

        Assert.Contains(_folder.DatabasePath, error.Message);
        Assert.Contains("not a SQLite database", error.Message);
        Assert.Equal(garbage, File.ReadAllBytes(_folder.DatabasePath));
    }

    [Fact]
    public void AForeignSqliteDatabase_IsRejectedAndLeftUnchanged()
    {
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _folder.DatabasePath, Pooling = false }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE runs (id TEXT PRIMARY KEY, owner TEXT); INSERT INTO runs VALUES ('x', 'someone else');";
            command.ExecuteNonQuery();
        }
        byte[] before = File.ReadAllBytes(_folder.DatabasePath);

        var error = Assert.Throws<InvalidInputException>(() => RunStore.Open(_folder.Path));

        Assert.Contains(_folder.DatabasePath, error.Message);
        Assert.Contains("not a Distill run store", error.Message);
        Assert.Equal(before, File.ReadAllBytes(_folder.DatabasePath));
        Assert.False(File.Exists(_folder.DatabasePath + "-wal"));
    }

    [Fact]
    public void AStoreFromANewerSchema_IsRejected()
    {
        using (RunStore.Open(_folder.Path))
        {
        }
        _folder.ExecuteSql("PRAGMA user_version = 99;");

        var error = Assert.Throws<InvalidInputException>(() => RunStore.Open(_folder.Path));
        Assert.Contains("schema version 99", error.Message);
    }

    [Fact]
    public void ANewStore_UsesWalAndRecordsItsSchemaVersion()
    {
        using (RunStore.Open(_folder.Path))
        {
        }
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _folder.DatabasePath, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar());
        command.CommandText = "PRAGMA user_version;";
        Assert.Equal(2L, command.ExecuteScalar());
        command.CommandText = "PRAGMA application_id;";
        Assert.Equal(0x4453544CL, command.ExecuteScalar());

        // Reopening an up-to-date store changes nothing and keeps working.
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        tracker.End(RunStatus.Finished);
        Assert.Single(store.ListRuns());
    }

    [Fact]
    public void AFileWhereTheFolderShouldBe_IsRejected()
    {
        string file = Path.Combine(_folder.Path, "not-a-folder");
        File.WriteAllText(file, "x");

        var error = Assert.Throws<InvalidInputException>(() => RunStore.Open(file));
        Assert.Contains(file, error.Message);
    }
}
