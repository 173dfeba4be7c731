using System.Diagnostics;

namespace Distill.Cli.Tests;

/// <summary>A crash loses nothing: a killed run is marked, and resuming it ends exactly where an
/// uninterrupted run ends.</summary>
public sealed class ResumeTests
{
    // Long enough (about 60 epochs in all) that the first checkpoint appears well before the end.
    private static readonly string[] Recipe =
    [
        "train", "configs/digits/kd.yaml", "--json",
        "--set", "teacher.train.epochs=25", "--set", "stages[0].epochs=30",
    ];

    [Fact]
    public void Run_killed_with_sigkill_is_marked_failed_and_resumes_to_the_uninterrupted_result()
    {
        using var referenceStore = new TempDir();
        var reference = CliProcess.Run([.. Recipe, "--store", referenceStore.Path], TimeSpan.FromMinutes(5));
        Assert.True(reference.ExitCode == 0, reference.ToString());
        var expected = new RunJsonView(reference.StdOut);

        using var store = new TempDir();
        var runId = StartAndStopAtFirstCheckpoint(store.Path, p => p.Kill());

        // kill -9 gave the process no chance to say so: the next command that opens the store does.
        var shown = CliProcess.Run("runs", "show", runId, "--store", store.Path, "--json");
        var crashed = new RunJsonView(shown.StdOut);
        Assert.Equal("FAILED", crashed.Status);
        Assert.Contains("process died", crashed.Tag("error"));

        var resumed = CliProcess.Run(["train", "--resume", runId[..8], "--store", store.Path, "--json"], TimeSpan.FromMinutes(5));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var actual = new RunJsonView(resumed.StdOut);
        Assert.Equal(runId, actual.Id);
        Assert.Equal("FINISHED", actual.Status);
        foreach (var key in new[] { "teacher/test_acc", "teacher/test_loss", "student/test_acc", "student/test_loss", "train/loss", "val/loss" })
            Assert.True(expected.Metric(key) == actual.Metric(key), $"{key}: uninterrupted {expected.Metric(key)}, resumed {actual.Metric(key)}");
    }

    [Fact]
    public void Sigterm_marks_the_run_killed_and_exits_130()
    {
        using var store = new TempDir();
        int exitCode = 0;
        var runId = StartAndStopAtFirstCheckpoint(store.Path, p =>
        {
            using var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(60)), "distill did not stop on SIGTERM");
            exitCode = p.ExitCode;
        });
        Assert.Equal(130, exitCode);

        var shown = new RunJsonView(CliProcess.Run("runs", "show", runId, "--store", store.Path, "--json").StdOut);
        Assert.Equal("KILLED", shown.Status);
        Assert.Contains("checkpoints/last.ckpt", shown.Artifacts);
    }

    /// <summary>Starts the recipe, waits for its first checkpoint, then stops the process with <paramref name="stop"/>.</summary>
    private static string StartAndStopAtFirstCheckpoint(string store, Action<Process> stop)
    {
        using var process = Process.Start(CliProcess.StartInfo([.. Recipe, "--store", store]))!;
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var artifacts = Path.Combine(store, "artifacts");
        var deadline = DateTime.UtcNow.AddMinutes(2);
        string? checkpoint = null;
        while (checkpoint is null && DateTime.UtcNow < deadline && !process.HasExited)
        {
            checkpoint = Directory.Exists(artifacts)
                ? Directory.EnumerateFiles(artifacts, "last.ckpt", SearchOption.AllDirectories).FirstOrDefault()
                : null;
            if (checkpoint is null)
                Thread.Sleep(10);
        }
        Assert.False(process.HasExited, "the run ended before it could be interrupted");
        Assert.NotNull(checkpoint);
        stop(process);
        process.WaitForExit();
        // artifacts/<run id>/checkpoints/last.ckpt
        return new DirectoryInfo(Path.GetDirectoryName(checkpoint)!).Parent!.Name;
    }
}
