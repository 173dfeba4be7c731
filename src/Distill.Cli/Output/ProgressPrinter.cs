using System.Globalization;
using Distill.Core.Training;

namespace Distill.Cli.Output;

/// <summary>
/// Training progress on stderr: on a terminal, one line redrawn in place with a bar, loss, speed and
/// ETA; when stderr is redirected (CI, files), one plain line per epoch.
/// </summary>
public sealed class ProgressPrinter(TextWriter error, bool interactive) : IProgress<TrainingProgress>
{
    private DateTime _lastDraw = DateTime.MinValue;

    public static ProgressPrinter ForConsole() => new(Console.Error, !Console.IsErrorRedirected);

    public void Report(TrainingProgress p)
    {
        if (p.EpochEnd)
        {
            if (interactive)
                error.Write("\r\u001b[2K");
            error.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "[{0}] epoch {1}/{2}  loss {3:F4}  {4}  {5:N0} samples/s  {6:F1}s",
                p.Phase, p.Epoch, p.Epochs, p.Loss,
                p.ValidationBitsPerByte is { } bpb
                    ? string.Format(CultureInfo.InvariantCulture, "val {0:F4} bits/byte", bpb)
                    : string.Format(CultureInfo.InvariantCulture, "val acc {0:P2}", p.ValidationAccuracy ?? double.NaN),
                p.SamplesPerSecond, p.Elapsed.TotalSeconds));
            return;
        }
        if (!interactive || (DateTime.UtcNow - _lastDraw).TotalMilliseconds < 100)
            return;
        _lastDraw = DateTime.UtcNow;
        error.Write(string.Format(CultureInfo.InvariantCulture,
            "\r\u001b[2K[{0}] epoch {1}/{2} {3} {4}/{5}  loss {6:F4}  {7:N0} samples/s  ETA {8:mm\\:ss}",
            p.Phase, p.Epoch, p.Epochs, ProgressBar.Bar(p.Step, p.StepsPerEpoch),
            p.Step, p.StepsPerEpoch, p.Loss, p.SamplesPerSecond, ProgressBar.Eta(p.Step, p.StepsPerEpoch, p.Elapsed)));
    }
}
