using System.Globalization;

namespace Distill.Core.Tracking.Mlflow;

/// <summary>
/// How often and how long a request is retried after a network error, HTTP 429 or 5xx: exponential
/// backoff from <see cref="FirstDelay"/>, each wait at most <see cref="MaxDelay"/> (a server's
/// Retry-After is honoured up to that), and all waits of one request together at most
/// <see cref="TotalBudget"/>. MLflow's own variables MLFLOW_HTTP_REQUEST_MAX_RETRIES and
/// MLFLOW_HTTP_REQUEST_TIMEOUT (seconds per attempt) apply.
/// </summary>
public sealed record MlflowRetryPolicy
{
    public const string MaxRetriesVariable = "MLFLOW_HTTP_REQUEST_MAX_RETRIES";
    public const string TimeoutVariable = "MLFLOW_HTTP_REQUEST_TIMEOUT";

    public int MaxRetries { get; init; } = 5;
    public TimeSpan FirstDelay { get; init; } = TimeSpan.FromSeconds(0.5);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan TotalBudget { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public static MlflowRetryPolicy FromEnvironment()
    {
        var policy = new MlflowRetryPolicy();
        if (ReadNumber(MaxRetriesVariable) is { } retries)
            policy = policy with { MaxRetries = (int)Math.Clamp(retries, 0, 100) };
        if (ReadNumber(TimeoutVariable) is { } seconds && seconds > 0)
            policy = policy with { RequestTimeout = TimeSpan.FromSeconds(seconds) };
        return policy;
    }

    /// <summary>The wait before retry number <paramref name="retry"/> (0-based), or the server's Retry-After, capped.</summary>
    public TimeSpan Delay(int retry, TimeSpan? retryAfter)
    {
        var backoff = FirstDelay * Math.Pow(2, Math.Min(retry, 20));
        var wait = retryAfter ?? backoff;
        return wait > MaxDelay ? MaxDelay : wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }

    private static double? ReadNumber(string variable)
    {
        string? text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(text))
            return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value) || value < 0)
            throw new InvalidInputException($"{variable}='{TrackingNames.Printable(text)}' is not a non-negative number");
        return value;
    }
}
