namespace Distill.Core.Tracking;

public enum RunStatus { Running, Finished, Failed, Killed }

/// <summary>The spelling of a status in the database and in JSON (MLflow's names).</summary>
internal static class RunStatusText
{
    public static string ToText(RunStatus status) => status switch
    {
        RunStatus.Running => "RUNNING",
        RunStatus.Finished => "FINISHED",
        RunStatus.Failed => "FAILED",
        RunStatus.Killed => "KILLED",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unknown run status"),
    };

    public static RunStatus Parse(string text) => text switch
    {
        "RUNNING" => RunStatus.Running,
        "FINISHED" => RunStatus.Finished,
        "FAILED" => RunStatus.Failed,
        "KILLED" => RunStatus.Killed,
        _ => throw new FormatException($"unknown run status '{text}'"),
    };
}
