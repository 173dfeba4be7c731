using System.Diagnostics;
using Distill.Core.Tracking;
using Distill.TestSupport;

namespace Distill.Cli.Tests;

/// <summary>
/// A disk that fills up, for real (a small tmpfs): the run fails with exit 1 and a one-line message naming the
/// file or database (no stack trace), ends FAILED with that reason even when the database itself is what is full,
/// and resumes from its last checkpoint once there is room again.
/// </summary>
[Collection(UninterruptedDigitsCollection.Name)]
public sealed class DiskFullTests(UninterruptedDigitsRun uninterrupted)
{
    [Fact]
    public void A_checkpoint_that_does_not_fit_fails_the_run_naming_the_file_and_leaves_no_temporary_file()
    {
        // The teacher's first checkpoint (weights and Adam's two moments, about 620 KB) cannot fit in 600 KiB.
        using var disk = new TmpfsFolder(600);
        var result = CliProcess.Run([.. ResumeHistoryTests.Recipe, "--store", disk.Path], TimeSpan.FromMinutes(10));

        Assert.True(result.ExitCode == 1, result.ToString());
        string runId = Assert.Single(new RunStoreView(disk.Path).TopLevelRunIds());
        string checkpoint = Path.Combine(disk.Path, "artifacts", runId, "checkpoints", "last.ckpt");
        Assert.Contains($"\nfailed: {checkpoint}: cannot write the checkpoint: no space left on the device", result.StdErr);
        AssertNoStackTrace(result);
        Assert.Empty(Directory.GetFiles(Path.Combine(disk.Path, "artifacts"), "*.tmp", SearchOption.AllDirectories));

        var shown = new RunJsonView(CliProcess.Run("runs", "show", runId, "--store", disk.Path, "--json").StdOut);
        Assert.Equal("FAILED", shown.Status);
        Assert.Equal($"{checkpoint}: cannot write the checkpoint: no space left on the device", shown.Tag("error"));
    }

    [Fact]
    public void A_full_database_fails_the_run_and_the_next_command_marks_it_failed_with_the_reason()
    {
        // The database alone fills up: the store on one small disk, the run folders on another with room.
        using var disk = new TmpfsFolder(8 * 1024);
        disk.MountSubfolder("artifacts", 16 * 1024);
        string database = Path.Combine(disk.Path, "distill.db");
        string filler = Path.Combine(disk.Path, "filler");

        var failed = RunUntil([.. ResumeHistoryTests.Recipe, "--store", disk.Path], "[teacher] epoch 2/", () => TmpfsFolder.Fill(filler));

        Assert.True(failed.ExitCode == 1, failed.ToString());
        string reason = $"{database}: the run store's database cannot grow: no space left on the device";
        Assert.Contains($"\nfailed: {reason}", failed.StdErr);
        AssertNoStackTrace(failed);

        // While the disk is still full, the store is read if SQLite's files are in place, or the disk is named.
        var whileFull = CliProcess.Run("runs", "list", "--store", disk.Path);
        Assert.True(whileFull.ExitCode == 0 || whileFull.StdErr.StartsWith($"failed: {database}: ", StringComparison.Ordinal), whileFull.ToString());
        AssertNoStackTrace(whileFull);

        File.Delete(filler);
        var store = new RunStoreView(disk.Path);
        string runId = Assert.Single(store.TopLevelRunIds());
        var shown = new RunJsonView(CliProcess.Run("runs", "show", runId, "--store", disk.Path, "--json").StdOut);
        Assert.Equal("FAILED", shown.Status);
        Assert.StartsWith(reason, shown.Tag("error"));
        // Which phase meets the full database depends on when SQLite next needs a page; the phases before it finished.
        var phases = store.Children(runId);
        Assert.All(phases.SkipLast(1), phase => Assert.Equal(RunStatus.Finished, phase.Status));
        Assert.Equal(RunStatus.Failed, phases[^1].Status);
        Assert.StartsWith(reason, phases[^1].Tags["error"]);
        Assert.Empty(Directory.GetFiles(Path.Combine(disk.Path, "artifacts"), EndNoteFileName, SearchOption.AllDirectories));

        // The points that could not be written belong to epochs after the checkpoint: the resume logs them again.
        var resumed = CliProcess.Run(["train", "--resume", runId, "--store", disk.Path, "--json"], TimeSpan.FromMinutes(10));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        RunHistory.Read(disk.Path, runId).AssertSameAs(uninterrupted.History);
    }

    private const string EndNoteFileName = ".end-note.json";

    private static void AssertNoStackTrace(CliResult result) =>
        Assert.DoesNotContain(result.StdErr.Split('\n'), line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));

    /// <summary>Runs distill, calls <paramref name="act"/> once a stderr line contains <paramref name="marker"/>, and waits for the end.</summary>
    private static CliResult RunUntil(string[] args, string marker, Action act)
    {
        using var watched = new WatchedProcess(args, marker);
        watched.WaitForMarker(TimeSpan.FromMinutes(5));
        act();
        Assert.True(watched.Process.WaitForExit(TimeSpan.FromMinutes(5)), "distill did not stop");
        watched.Process.WaitForExit();
        return new CliResult(watched.Process.ExitCode, watched.StdOut, watched.StdErr);
    }

    /// <summary>Reads a store the way another process would.</summary>
    private sealed class RunStoreView(string directory)
    {
        public List<string> TopLevelRunIds()
        {
            using var store = RunStore.Open(directory);
            return store.FindRuns(new RunSelection { IncludeChildren = false }).Select(r => r.Id).ToList();
        }

        public IReadOnlyList<RunRecord> Children(string runId)
        {
            using var store = RunStore.Open(directory);
            return store.GetChildRuns(runId);
        }
    }
}
