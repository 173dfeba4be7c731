namespace Distill.Cli;

public static class ExitCodes
{
    public const int Success = 0;
    public const int RunFailed = 1;
    public const int BadInput = 2;
    /// <summary>128 + SIGINT, as shells report an interrupted program.</summary>
    public const int Interrupted = 130;
}
