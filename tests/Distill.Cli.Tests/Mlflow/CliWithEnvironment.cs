using System.Diagnostics;
using System.Text;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>Runs `distill` like <see cref="CliProcess"/>, with MLflow's variables cleared and the given ones set.</summary>
public static class CliWithEnvironment
{
    public static CliResult Run(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = CliProcess.StartInfo(args);
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("MLFLOW_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(name);
        foreach (var (name, value) in environment)
            info.Environment[name] = value;
        using var process = Process.Start(info)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"distill {string.Join(' ', args)} did not finish within 5 minutes");
        }
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    public static CliResult Run(params string[] args) => Run(new Dictionary<string, string>(), args);
}
