using System.Diagnostics;

namespace Distill.Core.Export;

/// <summary>Waiting for a runtime started as a child process (the ONNX checker, Arm NN) without making the run
/// deaf to Ctrl-C or SIGTERM: on cancellation the child and its children are killed at once.</summary>
internal static class ChildProcess
{
    /// <summary>Waits for <paramref name="process"/> to exit; throws <see cref="OperationCanceledException"/> after
    /// killing it when <paramref name="cancel"/> fires first.</summary>
    public static void WaitForExit(Process process, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(process);
        using (cancel.Register(() => Kill(process)))
        {
            process.WaitForExit();
        }
        cancel.ThrowIfCancellationRequested();
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It has exited already.
        }
    }
}
