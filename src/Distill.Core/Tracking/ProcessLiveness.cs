using System.ComponentModel;
using System.Diagnostics;

namespace Distill.Core.Tracking;

/// <summary>The process that owns a RUNNING run, as recorded in the runs table.</summary>
internal sealed record ProcessIdentity(int Pid, string Host, long StartTimeMs)
{
    public static ProcessIdentity Current { get; } = CreateCurrent();

    private static ProcessIdentity CreateCurrent()
    {
        using var self = Process.GetCurrentProcess();
        return new ProcessIdentity(Environment.ProcessId, Environment.MachineName, self.StartTime.ToUniversalTime().ToUnixTimeMs());
    }
}

internal enum Liveness { Alive, Dead, Unknown }

internal static class ProcessLiveness
{
    // The start time the OS reports is recomputed from boot time on each query, so two
    // readings of the same process may differ slightly; a reused pid starts far later.
    private const long StartTimeToleranceMs = 2000;

    /// <summary>Whether the process with this pid on this host is still the one that started the run.</summary>
    public static Liveness Check(int pid, long startTimeMs)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited)
                return Liveness.Dead;
            long actualStart = process.StartTime.ToUniversalTime().ToUnixTimeMs();
            return Math.Abs(actualStart - startTimeMs) <= StartTimeToleranceMs ? Liveness.Alive : Liveness.Dead;
        }
        catch (ArgumentException)
        {
            return Liveness.Dead; // no process with this pid
        }
        catch (InvalidOperationException)
        {
            return Liveness.Dead; // exited while we looked
        }
        catch (Exception e) when (e is Win32Exception or NotSupportedException or UnauthorizedAccessException)
        {
            return Liveness.Unknown; // cannot inspect it (permissions, platform): fall back to the heartbeat
        }
    }

    internal static long ToUnixTimeMs(this DateTime utc) => new DateTimeOffset(utc, TimeSpan.Zero).ToUnixTimeMilliseconds();
}
