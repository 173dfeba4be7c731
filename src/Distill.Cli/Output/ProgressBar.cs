namespace Distill.Cli.Output;

/// <summary>The bar and the time left that the progress lines on a terminal draw.</summary>
public static class ProgressBar
{
    public const int Width = 24;

    /// <summary>A <see cref="Width"/>-character bar filled in proportion to <paramref name="done"/> of <paramref name="total"/>.</summary>
    public static string Bar(long done, long total)
    {
        int filled = (int)Math.Round((double)done / total * Width);
        return new string('█', filled) + new string('░', Width - filled);
    }

    /// <summary>Time left at the pace so far; zero before anything is done.</summary>
    public static TimeSpan Eta(long done, long total, TimeSpan elapsed) =>
        done > 0 ? TimeSpan.FromSeconds(elapsed.TotalSeconds / done * (total - done)) : TimeSpan.Zero;
}
