using Distill.Cli.Output;
using Distill.Core.Export.Targets;

namespace Distill.Cli.Tests;

public sealed class VerificationProgressPrinterTests
{
    [Fact]
    public void Bar_is_redrawn_in_place_with_the_count_and_eta_then_cleared()
    {
        var error = new StringWriter();
        var printer = new VerificationProgressPrinter(error);
        // 250 of 1,000 in 10 s: 30 s to go; a quarter of the 24-character bar.
        printer.Report(new VerificationProgress("arm-cortex-a", "Arm NN (CpuRef)", 250, 1000, TimeSpan.FromSeconds(10)));
        Assert.Equal("\r\u001b[2K[verify arm-cortex-a] " + new string('█', 6) + new string('░', 18) + " 250/1,000 samples in Arm NN (CpuRef)  ETA 00:30",
            error.ToString());

        printer.Report(new VerificationProgress("arm-cortex-a", "Arm NN (CpuRef)", 1000, 1000, TimeSpan.FromSeconds(40)));
        Assert.EndsWith("ETA 00:30\r\u001b[2K", error.ToString());
    }
}
