using Distill.Core.Distillation;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Distillation;

/// <summary>Decoupled KD checked against the identity of Zhao et al. (CVPR 2022): for one sample,
/// KL(p^t ‖ p^s) = TCKD + (1 − p_g^t) · NCKD, so DKD with (alpha, beta) = (1, 1 − p_g^t) is classic KD exactly.</summary>
public sealed class DkdTermTests
{
    private static readonly float[] Student = [1.5f, -0.3f, 0.8f, 2.1f, -1.0f];
    private static readonly float[] Teacher = [0.2f, 0.5f, 3.0f, 1.1f, -2.0f];

    [Theory]
    [InlineData(1.0, 2)]
    [InlineData(4.0, 2)]
    [InlineData(2.0, 0)]
    public void Tckd_plus_weighted_nckd_is_classic_kd(double temperature, long target)
    {
        var s = tensor(Student).view(1, 5);
        var t = tensor(Teacher).view(1, 5);
        var g = tensor(new[] { target });
        double teacherTarget = softmax(t / temperature, 1)[0, target].item<float>();
        double kd = KdLoss.SoftTarget(s, t, temperature).item<float>();
        double tckd = DkdTerm.Decoupled(s, t, g, new DkdOptions { Alpha = 1, Beta = 0, Temperature = temperature }).item<float>();
        double nckd = DkdTerm.Decoupled(s, t, g, new DkdOptions { Alpha = 0, Beta = 1, Temperature = temperature }).item<float>();
        Assert.Equal(kd, tckd + (1 - teacherTarget) * nckd, 5);
        // DKD frees NCKD from that weight: with beta = 1 it is larger than KD's share whenever the teacher favours the target.
        double dkd = DkdTerm.Decoupled(s, t, g, new DkdOptions { Alpha = 1, Beta = 1, Temperature = temperature }).item<float>();
        Assert.Equal(tckd + nckd, dkd, 5);
        Assert.True(nckd > 0 && tckd >= 0);
    }

    [Fact]
    public void Identical_logits_give_zero_and_standardisation_gives_unit_spread()
    {
        var s = tensor(Student).view(1, 5);
        var g = tensor(new[] { 3L });
        Assert.Equal(0.0, DkdTerm.Decoupled(s, s.clone(), g, new DkdOptions()).item<float>(), 6);
        var z = DkdTerm.Standardized(tensor(new float[] { 1, 2, 3, 4, 5, 10, 20, 30, 40, 50 }).view(2, 5));
        // Both rows are 1..5 up to scale and shift: standardised they are equal, mean 0, population std 1.
        Assert.Equal(0f, (z[0] - z[1]).abs().max().item<float>(), 5);
        Assert.Equal(0f, z.mean([1]).abs().max().item<float>(), 5);
        Assert.Equal(1f, z.std(1, unbiased: false)[0].item<float>(), 4);
        // Standardised DKD does not change when the teacher's logits are shifted and scaled.
        var t = tensor(Teacher).view(1, 5);
        var options = new DkdOptions { Standardize = true };
        Assert.Equal(DkdTerm.Decoupled(s, t, g, options).item<float>(), DkdTerm.Decoupled(s, t * 3 + 7, g, options).item<float>(), 5);
    }
}
