using System.Diagnostics;
using System.Text;

namespace Distill.Cli.Tests;

/// <summary>A running `distill` whose output is collected and whose stderr is watched for a marker line, for tests
/// that act (kill, signal, fill a disk) at a chosen moment of a run. Disposing kills what is still running.</summary>
public sealed class WatchedProcess : IDisposable
{
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly ManualResetEventSlim _reached = new();
    private readonly string _marker;

    public WatchedProcess(IEnumerable<string> args, string marker)
    {
        _marker = marker;
        Process = Process.Start(CliProcess.StartInfo(args))!;
        Process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        Process.ErrorDataReceived += (_, e) =>
        {
            Append(_stderr, e.Data);
            if (e.Data?.Contains(marker, StringComparison.Ordinal) == true)
                _reached.Set();
        };
        Process.StandardInput.Close();
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string StdOut => Text(_stdout);

    public string StdErr => Text(_stderr);

    /// <summary>Waits until a stderr line contains the marker; fails with the stderr so far if the process ends first
    /// or <paramref name="timeout"/> passes.</summary>
    public void WaitForMarker(TimeSpan timeout)
    {
        SpinWait.SpinUntil(() => _reached.IsSet || Process.HasExited, timeout);
        if (!_reached.IsSet && Process.HasExited)
            Process.WaitForExit(); // the last lines may still be on their way
        Assert.True(_reached.IsSet, $"distill never printed '{_marker}':\n{StdErr}");
    }

    public void Dispose()
    {
        if (!Process.HasExited)
            Process.Kill(entireProcessTree: true);
        Process.Dispose();
        _reached.Dispose();
    }

    private static void Append(StringBuilder builder, string? line)
    {
        if (line is null)
            return;
        lock (builder)
            builder.AppendLine(line);
    }

    private static string Text(StringBuilder builder)
    {
        lock (builder)
            return builder.ToString();
    }
}
