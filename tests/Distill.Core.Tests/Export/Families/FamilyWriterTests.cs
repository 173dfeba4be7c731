using Distill.Core.Export.Families;

namespace Distill.Core.Tests.Export.Families;

public sealed class FamilyWriterTests
{
    [Theory]
    [InlineData(0.01623456, 0.01623)]
    [InlineData(12.34567, 12.35)]
    [InlineData(0.5, 0.5)]
    [InlineData(1234567.0, 1235000.0)]
    [InlineData(3.2e-7, 3.2e-7)]
    [InlineData(0.0, 0.0)]
    public void Manifest_figures_keep_four_significant_digits(double measured, double written) =>
        Assert.Equal(written, FamilyWriter.Significant(measured));
}
