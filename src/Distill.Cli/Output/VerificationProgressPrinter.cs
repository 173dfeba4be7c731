using System.Globalization;
using Distill.Core.Export.Targets;

namespace Distill.Cli.Output;

/// <summary>A bar redrawn in place on a terminal's stderr while an export's verification samples run in a slow
/// runtime (Arm NN's reference backend); the line is cleared when they are done. When stderr is not a terminal the
/// export logs a line every ten seconds instead.</summary>
public sealed class VerificationProgressPrinter(TextWriter error) : IProgress<VerificationProgress>
{
    private DateTime _lastDraw = DateTime.MinValue;

    public void Report(VerificationProgress p)
    {
        if (p.Done >= p.Total)
        {
            error.Write("\r\u001b[2K");
            return;
        }
        if ((DateTime.UtcNow - _lastDraw).TotalMilliseconds < 100)
            return;
        _lastDraw = DateTime.UtcNow;
        error.Write(string.Format(CultureInfo.InvariantCulture,
            "\r\u001b[2K[verify {0}] {1} {2:N0}/{3:N0} samples in {4}  ETA {5:mm\\:ss}",
            p.Target, ProgressBar.Bar(p.Done, p.Total), p.Done, p.Total, p.Runtime, ProgressBar.Eta(p.Done, p.Total, p.Elapsed)));
    }
}
