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

    public static CliResult Run(IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null)
    {
        using var process = Process.Start(StartInfo(args, workingDirectory))!;
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
            throw new TimeoutException($"distill {string.Join(' ', args)} did not finish within {timeout}");
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
