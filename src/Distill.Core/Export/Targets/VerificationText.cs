using System.Globalization;
using Distill.Core.Tracking;

namespace Distill.Core.Export.Targets;

/// <summary>
/// An export's verification in one line for a person: the verdict first, then what it rests on, then the ONNX
/// checker's own result as a separate clause, e.g. "passed: top1_agreement 99.95 % against the fake-quant student
/// (at least 99.00 %); ONNX checker not run (not an ONNX file)". The verdict used to follow the checker
/// ("ONNX checker not applicable: passed"), which read as one result.
/// </summary>
public static class VerificationText
{
    public static string Describe(ExportVerification verification)
    {
        ArgumentNullException.ThrowIfNull(verification);
        var v = verification;
        if (v.Criterion == TargetExporter.SpecProblems)
        {
            return $"{(v.Passed ? "passed" : "FAILED")}: {v.Reference} check {v.OnnxChecker} (parsed back through the schema, required fields set, " +
                $"specification version matches the features used); not run: {v.Runtime}";
        }
        string bound = MetricFormat.IsFraction(v.Criterion) ? "at least" : "at most";
        return $"{(v.Passed ? "passed" : "FAILED")}: {v.Criterion} {Value(v.Criterion, v.Value)} against the {v.Reference} " +
            $"({bound} {Value(v.Criterion, v.Threshold)}); {Checker(v.OnnxChecker)}";
    }

    /// <summary>The checker's result as a clause: "ONNX checker passed", "ONNX checker failed: …",
    /// "ONNX checker unavailable: …", or "ONNX checker not run (not an ONNX file)".</summary>
    public static string Checker(string result) =>
        result == TargetExporter.CheckerNotApplicable ? "ONNX checker not run (not an ONNX file)" : $"ONNX checker {result}";

    private static string Value(string criterion, double value) =>
        MetricFormat.IsFraction(criterion) ? MetricFormat.Percent(value) : value.ToString("G4", CultureInfo.InvariantCulture);
}
