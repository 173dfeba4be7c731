using Distill.Core.Export.Targets;

namespace Distill.Core.Tests.Export;

public class VerificationTextTests
{
    [Fact]
    public void A_tflite_export_states_the_verdict_and_that_no_onnx_checker_ran()
    {
        var tflite = new ExportVerification("Arm NN (CpuRef)", "fake-quant student", "top1_agreement", 0.9995, TargetExporter.Int8Agreement,
            0.12, 0.9995, 2000, TargetExporter.CheckerNotApplicable, Passed: true);
        Assert.Equal("passed: top1_agreement 99.95 % against the fake-quant student (at least 99.00 %); ONNX checker not run (not an ONNX file)",
            VerificationText.Describe(tflite));
    }

    [Fact]
    public void A_failed_float_export_shows_the_difference_against_its_bound_and_the_checkers_own_result()
    {
        var onnx = new ExportVerification("ONNX Runtime (CPU)", "float student", "max_abs_logit_diff", 0.00025, TargetExporter.Float32Tolerance,
            0.00025, 1, 360, "passed", Passed: false);
        Assert.Equal("FAILED: max_abs_logit_diff 0.00025 against the float student (at most 0.0001); ONNX checker passed",
            VerificationText.Describe(onnx));
    }
}
