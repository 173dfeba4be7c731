using Distill.Core.Tracking;
using Distill.TestSupport;

namespace Distill.Core.Tests.Tracking;

/// <summary>A store on a disk that fills up for real (a small tmpfs).</summary>
public sealed class DiskFullStoreTests
{
    [Fact]
    public void An_end_note_fits_in_its_reserved_space_on_a_full_disk()
    {
        using var disk = new TmpfsFolder(256);
        string reserved = Path.Combine(disk.Path, "reserved");
        string unreserved = Path.Combine(disk.Path, "unreserved");
        Directory.CreateDirectory(unreserved);
        EndNote.Reserve(reserved);
        TmpfsFolder.Fill(Path.Combine(disk.Path, "filler"));

        string error = "cannot write /data/x.ckpt: " + new string('é', 5000); // 10 KB of UTF-8
        EndNote.Keep(reserved, RunStatus.Killed, error, 1234);

        Assert.Equal(new EndNote.Note(RunStatus.Killed, error, 1234), EndNote.Read(reserved));
        // The disk really is full: the same note without a reservation does not fit.
        Assert.ThrowsAny<IOException>(() => EndNote.Keep(unreserved, RunStatus.Failed, error, 1234));
    }

    [Fact]
    public void A_run_whose_database_is_full_ends_in_its_folder_and_the_next_open_with_room_marks_it_with_the_reason()
    {
        using var disk = new TmpfsFolder(2048);
        string storeDirectory = Path.Combine(disk.Path, "store");
        string filler = Path.Combine(disk.Path, "filler");
        string runId;
        string runFolder;
        using (var store = RunStore.Open(storeDirectory))
        using (var run = store.StartRun("exp", "run"))
        {
            runId = run.RunId;
            runFolder = run.ArtifactDirectory;
            run.LogMetric("loss", 1, 0);
            run.Flush();
            TmpfsFolder.Fill(filler);

            var full = Assert.Throws<DiskFullException>(() =>
            {
                for (int step = 1; step < 10_000; step++)
                {
                    run.LogMetric("loss", 1.0 / step, step);
                    run.Flush();
                }
            });
            string database = Path.Combine(storeDirectory, "distill.db");
            Assert.StartsWith($"{database}: the run store's database cannot grow: no space left on the device", full.Message);

            run.End(RunStatus.Failed, "the real reason: " + full.Message); // does not throw: the end is kept in the run's folder
            Assert.Equal(RunStatus.Failed, EndNote.Read(runFolder)?.Status);
        }

        // The owner is gone (as after the process exits).
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(storeDirectory, "distill.db")};Pooling=False"))
        {
            File.Delete(filler);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"UPDATE runs SET pid = {int.MaxValue};";
            command.ExecuteNonQuery();
        }
        // With the disk full again, SQLite cannot even make its shared-memory file: say so, naming the database.
        TmpfsFolder.Fill(filler);
        var stillFull = Assert.Throws<DiskFullException>(() => RunStore.Open(storeDirectory));
        Assert.StartsWith(Path.Combine(storeDirectory, "distill.db") + ": ", stillFull.Message);

        File.Delete(filler);
        using (var store = RunStore.Open(storeDirectory))
        {
            var run = store.GetRun(runId);
            Assert.Equal(RunStatus.Failed, run.Status);
            Assert.StartsWith("the real reason: ", run.Tags["error"]);
            Assert.Contains("no space left on the device", run.Tags["error"]);
        }
        Assert.False(File.Exists(Path.Combine(runFolder, EndNote.FileName)));
    }
}
