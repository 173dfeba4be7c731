using System.Diagnostics;
using System.Text;

namespace Distill.Cli.Tests;

public sealed record CliResult(int ExitCode, string StdOut, string StdErr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{StdOut}\n--- stderr\n{StdErr}";
}

/// <summary>Runs the real `distill` program in a child process, as a user would.</summary>
public static class CliProcess
{
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string DistillDll => Path.Combine(AppContext.BaseDirectory, "distill.dll");

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoRoot,
        };
        info.ArgumentList.Add(DistillDll);
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        info.Environment.Remove("DISTILL_STORE");
        return info;
    }

    public static CliResult Run(params string[] args) => Run(args, TimeSpan.FromMinutes(5));

    /// <summary>Runs `distill train …` into <paramref name="store"/> until it has printed a stderr line containing
    /// <paramref name="marker"/>, where it kills itself (SIGKILL, or SIGTERM with <paramref name="terminate"/>;
    /// see KillAtLineWriter: a signal sent from here when the line arrives can land after a fast run has finished).
    /// Returns the exit code and the id of the run that checkpointed (the recipe run; its phase runs have artifact
    /// folders too).</summary>
    public static (string RunId, int ExitCode) KillAt(string[] args, string store, string marker, bool terminate = false)
    {
        var info = StartInfo([.. args, "--store", store]);
        info.Environment["DISTILL_KILL_AT_LINE"] = marker;
        if (terminate)
            info.Environment["DISTILL_KILL_SIGNAL"] = "TERM";
        var result = Run(info, $"distill {string.Join(' ', args)} (killed at '{marker}')", TimeSpan.FromMinutes(5));
        Assert.True(result.StdErr.Contains(marker, StringComparison.Ordinal), $"distill never printed '{marker}':\n{result}");
        var runs = Directory.GetDirectories(Path.Combine(store, "artifacts"))
            .Where(d => File.Exists(Path.Combine(d, "checkpoints", "last.ckpt")));
        return (Path.GetFileName(Assert.Single(runs)), result.ExitCode);
    }

    /// <summary>As <see cref="KillAt"/> with SIGKILL; asserts the process died of it.</summary>
    public static string KillAfter(string[] args, string store, string marker)
    {
        var (runId, exitCode) = KillAt(args, store, marker);
        Assert.Equal(137, exitCode); // 128 + SIGKILL
        return runId;
    }

    public static CliResult Run(IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null) =>
        Run(StartInfo(args, workingDirectory), $"distill {string.Join(' ', args)}", timeout);

    /// <summary>Runs `distill` so that file permissions apply to it: as is for a normal user; when the tests run as
    /// root, still as root (the owner of the clone, wherever it is: user nobody could not read a clone in a private
    /// folder such as mktemp's) but without the capabilities that let root ignore permissions (setpriv, util-linux).</summary>
    public static CliResult RunSubjectToPermissions(params string[] args)
    {
        var info = StartInfo(args);
        if (Environment.UserName == "root")
        {
            info.FileName = "setpriv";
            info.ArgumentList.Insert(0, "dotnet");
            info.ArgumentList.Insert(0, "--bounding-set=-dac_override,-dac_read_search");
        }
        return Run(info, $"distill {string.Join(' ', args)}", TimeSpan.FromMinutes(5));
    }

    public static CliResult Run(ProcessStartInfo info, string what, TimeSpan timeout)
    {
        using var process = Process.Start(info)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{what} did not finish within {timeout}");
        }
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Distill.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("Distill.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A temporary folder removed at the end of a test.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("distill-test-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
