using System.Diagnostics;
using System.Text;

namespace Distill.Cli.Tests;

/// <summary>The install the README shows: `dotnet pack` of the CLI gives a .NET tool package, and
/// `dotnet tool install --tool-path` puts a `distill` that runs (LibTorch included) on any folder.</summary>
public sealed class ToolInstallTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    [Fact]
    public void PackedToolInstallsIntoAToolPathAndTrainsFromAnotherFolder()
    {
        using var temp = new TempDir();
        string packages = temp.File("packages");
        string tools = temp.File("tools");
        string work = temp.File("work");
        Directory.CreateDirectory(work);

        // --no-build: the test run has just built the CLI; pack only publishes and zips it.
        Run("dotnet", ["pack", Path.Combine(CliProcess.RepoRoot, "src", "Distill.Cli"), "-c", Configuration, "--no-build", "-o", packages], work);
        var package = Assert.Single(Directory.GetFiles(packages, "Distill.Cli.*.nupkg"));
        Run("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", packages, "Distill.Cli"], work);

        string distill = Path.Combine(tools, "distill");
        var version = Run(distill, ["--version"], work);
        string expected = FileVersionInfo.GetVersionInfo(Path.Combine(AppContext.BaseDirectory, "distill.dll")).ProductVersion!;
        Assert.Equal(expected, version.Trim());
        Assert.Contains(Path.GetFileNameWithoutExtension(package)["Distill.Cli.".Length..], version);

        // Target profiles ship inside the tool, so a name resolves from a folder without configs/.
        var targets = Run(distill, ["targets", "list", "--json"], work);
        Assert.Contains("\"x86-vnni\"", targets);

        // A short training run loads LibTorch (the GLIBCXX fix must be in the package) and writes a store here.
        string recipe = Path.Combine(CliProcess.RepoRoot, "configs", "digits", "kd.yaml");
        Run(distill, ["train", recipe, "--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=1", "--store", "runs", "--json"], work);
        Assert.True(File.Exists(Path.Combine(work, "runs", "distill.db")));
    }

    private static string Run(string program, string[] args, string workingDirectory)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment.Remove("DISTILL_STORE");
        using var process = Process.Start(info)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within 8 minutes");
        }
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)}: exit {process.ExitCode}\n{stdout}\n{stderr}");
        return stdout.ToString();
    }
}
