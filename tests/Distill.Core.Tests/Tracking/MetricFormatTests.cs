using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

public class MetricFormatTests
{
    [Theory]
    [InlineData("student/test_acc", true)]
    [InlineData("val/acc", true)]
    [InlineData("teacher/val/acc", true)]
    [InlineData("quant/val_acc", true)]
    [InlineData("student/float_test_acc", true)]
    [InlineData("export/x86-vnni/agreement", true)]
    [InlineData("student/sparsity", true)]
    [InlineData("student/params", false)]
    [InlineData("student/test_loss", false)]
    [InlineData("export/x86-vnni/latency_ms_b1", false)]
    [InlineData("student/val_bpb", false)]
    [InlineData("train/accumulate", false)]
    public void Fractions_are_known_by_the_last_segment_of_their_key(string key, bool fraction) =>
        Assert.Equal(fraction, MetricFormat.IsFraction(key));

    [Fact]
    public void Fractions_print_as_the_summary_prints_them_and_other_numbers_with_six_digits()
    {
        Assert.Equal("93.87 %", MetricFormat.Format("student/test_acc", 0.938719));
        Assert.Equal("0.938719", MetricFormat.Format("student/test_loss", 0.938719));
        Assert.Equal("1.68883E+06", MetricFormat.Format("teacher/size_bytes", 1688830));
    }
}
