using Spectre.Console;

namespace Distill.Cli.Output;

/// <summary>
/// Spectre.Console takes a redirected stdout (a file, a pipe, a test's reader) to be 80 columns wide and wraps
/// or cuts table cells there, mid-word. A file or a pipe has no width: there every line keeps its full length.
/// </summary>
public static class RedirectedOutput
{
    /// <summary>Wider than anything Distill prints on one line (a param value is at most 6,000 characters).</summary>
    public const int Width = 1 << 16;

    public static void KeepFullWidth(IAnsiConsole console, bool redirected)
    {
        ArgumentNullException.ThrowIfNull(console);
        if (redirected)
            console.Profile.Width = Width;
    }
}
