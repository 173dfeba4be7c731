using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Xunit.Abstractions;
using Distill.Core.Models;
using Distill.Core.Training;

namespace Distill.Cli.Tests;

/// <summary>SIGTERM is answered within about a second in every phase, not only between training steps: the run
/// ends KILLED (before it is opened, nothing is created) and distill exits 130. The slow phases run on the full
/// Fashion-MNIST (60,000 + 10,000 images) that .ci/setup installs (Debian's dataset-fashion-mnist).</summary>
public sealed partial class InterruptTests(ITestOutputHelper output)
{
    private const string FashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>Time from the signal to the process's exit; the slow phases below last tens of seconds here.</summary>
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(2);

    private static readonly string DataSection = $$"""
        data:
          format: idx
          train: { images: {{FashionMnist}}/train-images-idx3-ubyte.gz, labels: {{FashionMnist}}/train-labels-idx1-ubyte.gz }
          test: { images: {{FashionMnist}}/t10k-images-idx3-ubyte.gz, labels: {{FashionMnist}}/t10k-labels-idx1-ubyte.gz }
        """;

    [Fact]
    public void Sigterm_while_the_data_loads_exits_130_before_any_run_is_created()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("recipe.yaml"), $$"""
            name: sigterm-load
            {{DataSection}}
            student:
              model: { arch: mlp, hidden: [16] }
            stages:
              - name: s
            """);

        // The line right before the run starts: reading 70,000 images and normalising them takes seconds.
        var stopped = SigtermAfter(["train", dir.File("recipe.yaml")], dir.File("store"), "INF Recipe ", TimeSpan.Zero);

        stopped.AssertAnsweredWith130(output);
        var list = CliProcess.Run("runs", "list", "--all", "--store", dir.File("store"), "--json");
        Assert.Equal("[]", list.StdOut.Trim());
    }

    [Fact]
    public void Sigterm_while_the_teacher_cache_is_built_kills_the_run()
    {
        using var dir = new TempDir();
        // A teacher that takes tens of seconds to run over 54,000 training images (its weights do not matter).
        var spec = new ModelSpec { Arch = ModelArch.Cnn, Channels = [32, 64], Depthwise = [false, false], Pool = [true, true], Hidden = [128] };
        using (var teacher = ModelZoo.Build(spec, [1, 28, 28], 10))
            ModelCheckpoint.Save(dir.File("teacher.ckpt"), teacher, null, "teacher", null);
        File.WriteAllText(dir.File("recipe.yaml"), $$"""
            name: sigterm-cache
            {{DataSection}}
            teacher:
              model: { arch: cnn, channels: [32, 64], hidden: [128] }
              checkpoint: teacher.ckpt
            student:
              model: { arch: mlp, hidden: [16] }
            stages:
              - name: distil
                loss: { kd: {} }
            """);

        // "Stage distil: 1 epochs of …" is logged as the phase starts; its first work is the teacher cache.
        var stopped = SigtermAfter(["train", dir.File("recipe.yaml")], dir.File("store"), "INF Stage distil:", TimeSpan.FromSeconds(1));

        stopped.AssertAnsweredWith130(output);
        var runs = Runs(dir.File("store"));
        Assert.Equal(2, runs.Count); // the run and its phase run "distil"
        Assert.All(runs, run => Assert.Equal("KILLED", run.Status));
        // The store is not the default one (./distill-runs): the hint names it, so that it works as printed.
        string recipeRun = Assert.Single(runs, r => r.ParentId is null).Id;
        Assert.Contains($"resume it with: distill train --resume {recipeRun} --store {dir.File("store")}", stopped.StdErr);
    }

    [Fact]
    public void Sigterm_while_arm_nn_verifies_the_export_kills_the_run_and_leaves_no_export()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("recipe.yaml"), $$"""
            name: sigterm-export
            {{DataSection}}
              max_train: 500
            student:
              model: { arch: cnn, channels: [8, 16], hidden: [] }
            stages:
              - name: s
            export: [{ target: arm-cortex-a, verify_samples: all }]
            """);

        // Arm NN's reference backend runs all 10,000 test images one by one (verify_samples: all; its default sample
        // of 1,000 can end before the signal), tens of milliseconds each for a CNN: minutes here. An MLP this small
        // takes a tenth of a millisecond a sample and ended before the signal.
        var stopped = SigtermAfter(["train", dir.File("recipe.yaml")], dir.File("store"), "INF Export arm-cortex-a:", TimeSpan.FromSeconds(3));

        stopped.AssertAnsweredWith130(output);
        var run = Assert.Single(Runs(dir.File("store")), r => r.ParentId is null);
        Assert.Equal("KILLED", run.Status);
        var artifacts = Path.Combine(dir.File("store"), "artifacts", run.Id);
        Assert.False(Directory.Exists(Path.Combine(artifacts, "exports", "arm-cortex-a")), "a half-verified export was kept");
        Assert.Empty(Directory.Exists(Path.Combine(artifacts, "exports"))
            ? Directory.GetFileSystemEntries(Path.Combine(artifacts, "exports"))
            : []);
    }

    private sealed record Stopped(int ExitCode, TimeSpan Answered, string StdErr)
    {
        public void AssertAnsweredWith130(ITestOutputHelper output)
        {
            output.WriteLine($"exit {ExitCode} {Answered.TotalSeconds:F2} s after SIGTERM");
            Assert.True(ExitCode == 130, $"exit {ExitCode}\n{StdErr}");
            Assert.True(Answered < Answer, $"answered SIGTERM after {Answered.TotalSeconds:F2} s\n{StdErr}");
        }
    }

    private sealed record RunRow(string Id, string Status, string? ParentId);

    private static List<RunRow> Runs(string store)
    {
        var list = CliProcess.Run("runs", "list", "--all", "--store", store, "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        return JsonDocument.Parse(list.StdOut).RootElement.EnumerateArray()
            .Select(r => new RunRow(r.GetProperty("id").GetString()!, r.GetProperty("status").GetString()!,
                r.TryGetProperty("parent_run_id", out var parent) ? parent.GetString() : null))
            .ToList();
    }

    /// <summary>Starts distill, waits for a stderr line containing <paramref name="marker"/>, waits <paramref name="delay"/>
    /// more, sends SIGTERM and measures how long the process takes to exit.</summary>
    private static Stopped SigtermAfter(string[] args, string store, string marker, TimeSpan delay)
    {
        using var watched = new WatchedProcess([.. args, "--store", store], marker);
        var process = watched.Process;
        watched.WaitForMarker(TimeSpan.FromMinutes(5));
        Thread.Sleep(delay);
        Assert.False(process.HasExited, $"distill ended before the signal:\n{watched.StdErr}");
        var clock = Stopwatch.StartNew();
        // Signalled directly, not through a kill process whose start-up would count in the time.
        Assert.Equal(0, Kill(process.Id, Sigterm));
        bool exited = process.WaitForExit(TimeSpan.FromMinutes(2));
        var answered = clock.Elapsed;
        Assert.True(exited, $"distill did not stop within 2 minutes of SIGTERM:\n{watched.StdErr}");
        process.WaitForExit();
        return new Stopped(process.ExitCode, answered, watched.StdErr);
    }

    private const int Sigterm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
