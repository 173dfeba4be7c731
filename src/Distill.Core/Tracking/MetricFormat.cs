using System.Globalization;

namespace Distill.Core.Tracking;

/// <summary>
/// How a metric's value reads for a person: fractions (accuracies, agreements, sparsity) as percentages with two
/// decimals ("93.87 %", as the training summary and the logs print them), other numbers with six significant
/// digits. Machine-readable output (--json, --csv, the store) keeps the raw number.
/// </summary>
public static class MetricFormat
{
    /// <summary>True for keys whose last segment is "acc", "agreement", "sparsity" or ends in "_acc" or "_agreement"
    /// (val/acc, student/test_acc, export/x86-vnni/agreement, student/sparsity): values in [0, 1].</summary>
    public static bool IsFraction(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        string last = key[(key.LastIndexOf('/') + 1)..];
        return last is "acc" or "agreement" or "sparsity"
            || last.EndsWith("_acc", StringComparison.Ordinal) || last.EndsWith("_agreement", StringComparison.Ordinal);
    }

    public static string Percent(double fraction) => fraction.ToString("P2", CultureInfo.InvariantCulture);

    public static string Number(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    public static string Format(string key, double value) => IsFraction(key) ? Percent(value) : Number(value);
}
