using System.Diagnostics;
using System.Text;

namespace Distill.Cli.Output;

/// <summary>
/// Fault injection for the crash tests: with DISTILL_KILL_AT_LINE set, stderr is wrapped so that the process signals
/// itself right after it has written the first line containing that text: SIGKILL, or SIGTERM when
/// DISTILL_KILL_SIGNAL=TERM. A test that signals the process from outside when it sees a line races the run, and
/// a fast run can finish before the signal lands.
/// </summary>
public sealed class KillAtLineWriter(TextWriter inner, string marker, bool terminate) : TextWriter
{
    public const string Variable = "DISTILL_KILL_AT_LINE";
    public const string SignalVariable = "DISTILL_KILL_SIGNAL";

    private readonly StringBuilder _line = new();

    public override Encoding Encoding => inner.Encoding;

    /// <summary>Wraps Console.Error when the variable is set.</summary>
    public static void InstallIfRequested()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } marker)
            Console.SetError(TextWriter.Synchronized(new KillAtLineWriter(Console.Error, marker,
                Environment.GetEnvironmentVariable(SignalVariable) == "TERM")));
    }

    public override void Write(char value)
    {
        inner.Write(value);
        if (value != '\n')
        {
            _line.Append(value);
            return;
        }
        bool hit = _line.ToString().Contains(marker, StringComparison.Ordinal);
        _line.Clear();
        if (!hit)
            return;
        inner.Flush();
        if (!terminate)
            Process.GetCurrentProcess().Kill(); // SIGKILL on Unix: nothing after this line runs
        using (var kill = Process.Start("kill", ["-TERM", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        // .NET handles the signal on another thread; holding this writer until it has cancelled the run's token
        // keeps the run from going on past the line.
        Thread.Sleep(TimeSpan.FromMilliseconds(500));
    }

    public override void Write(string? value)
    {
        foreach (char c in value ?? "")
            Write(c);
    }

    public override void Flush() => inner.Flush();
}
