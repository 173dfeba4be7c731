using Distill.Core.Distillation;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Distillation;

public class KdLossTests
{
    private static readonly double[][] Student = [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]];
    private static readonly double[][] Teacher = [[3.0, 1.0, 0.0], [1.0, 1.5, 1.0]];

    private static double[] Softmax(double[] logits, double temperature)
    {
        double max = logits.Max();
        var exp = logits.Select(z => Math.Exp((z - max) / temperature)).ToArray();
        double sum = exp.Sum();
        return exp.Select(e => e / sum).ToArray();
    }

    /// <summary>(1/B) Σ_b Σ_i p_t log(p_t / p_s), with p = softmax(logits / T), computed in doubles.</summary>
    private static double HandKl(double[][] student, double[][] teacher, double temperature)
    {
        double total = 0;
        for (int b = 0; b < student.Length; b++)
        {
            var ps = Softmax(student[b], temperature);
            var pt = Softmax(teacher[b], temperature);
            for (int i = 0; i < ps.Length; i++)
            {
                total += pt[i] * Math.Log(pt[i] / ps[i]);
            }
        }
        return total / student.Length;
    }

    private static Tensor ToTensor(double[][] rows) =>
        tensor(rows.SelectMany(r => r).Select(v => (float)v).ToArray()).reshape(rows.Length, rows[0].Length);

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    [InlineData(4.0)]
    public void SoftTargetIsTemperatureSquaredTimesBatchMeanKl(double temperature)
    {
        using var scope = NewDisposeScope();
        double actual = KdLoss.SoftTarget(ToTensor(Student), ToTensor(Teacher), temperature).item<float>();
        double kl = HandKl(Student, Teacher, temperature);
        Assert.True(kl > 0.01, "the example must have a non-trivial divergence");
        Assert.Equal(temperature * temperature * kl, actual, 1e-5);
    }

    [Fact]
    public void SoftTargetMatchesHandValueAtTemperatureTwo()
    {
        // Row 0: p_s = softmax([0.5,1,1.5]) = [0.186324, 0.307196, 0.506480], p_t = softmax([1.5,0.5,0]) = [0.628532, 0.231224, 0.140244]
        // (softmax values worked out by hand to 6 digits), KL = Σ p_t log(p_t/p_s); the loss is T² = 4 times that.
        double expectedRow0 = 0.628532 * Math.Log(0.628532 / 0.186324) + 0.231224 * Math.Log(0.231224 / 0.307196)
            + 0.140244 * Math.Log(0.140244 / 0.506480);
        double handRow0 = HandKl([Student[0]], [Teacher[0]], 2.0);
        Assert.Equal(expectedRow0, handRow0, 1e-5);

        using var scope = NewDisposeScope();
        double actualRow0 = KdLoss.SoftTarget(ToTensor([Student[0]]), ToTensor([Teacher[0]]), 2.0).item<float>();
        Assert.Equal(4 * expectedRow0, actualRow0, 1e-5);
    }

    [Fact]
    public void SoftTargetIsZeroForEqualLogits()
    {
        using var scope = NewDisposeScope();
        var logits = ToTensor(Student);
        Assert.Equal(0.0, KdLoss.SoftTarget(logits, logits.clone(), 3.0).item<float>(), 1e-6);
    }

    [Fact]
    public void SoftTargetIsABatchMeanNotASum()
    {
        using var scope = NewDisposeScope();
        double one = KdLoss.SoftTarget(ToTensor([Student[0]]), ToTensor([Teacher[0]]), 2.0).item<float>();
        double twice = KdLoss.SoftTarget(ToTensor([Student[0], Student[0]]), ToTensor([Teacher[0], Teacher[0]]), 2.0).item<float>();
        Assert.Equal(one, twice, 1e-6);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(4.0)]
    public void GradientIsTemperatureTimesSoftmaxDifferenceOverBatch(double temperature)
    {
        // L = (T²/B) Σ_b Σ_i p_t,i (log p_t,i − log p_s,i), p_s = softmax(s/T).
        // log p_s,i = s_i/T − logΣ_k exp(s_k/T), so ∂ log p_s,i / ∂s_j = (δ_ij − p_s,j) / T and
        // ∂(−Σ_i p_t,i log p_s,i)/∂s_j = −(p_t,j − p_s,j · Σ_i p_t,i) / T = (p_s,j − p_t,j) / T.
        // so ∂L/∂s_b,j = (T²/B) · (p_s,j − p_t,j) / T = T · (p_s,j − p_t,j) / B.
        using var scope = NewDisposeScope();
        var student = ToTensor(Student).requires_grad_(true);
        KdLoss.SoftTarget(student, ToTensor(Teacher), temperature).backward();
        var grad = student.grad!.data<float>().ToArray();
        int batch = Student.Length, classes = Student[0].Length;
        for (int b = 0; b < batch; b++)
        {
            var ps = Softmax(Student[b], temperature);
            var pt = Softmax(Teacher[b], temperature);
            for (int j = 0; j < classes; j++)
            {
                double expected = temperature * (ps[j] - pt[j]) / batch;
                Assert.Equal(expected, grad[b * classes + j], 1e-5);
            }
        }
    }

    [Fact]
    public void MismatchedShapesAreRejected()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => KdLoss.SoftTarget(zeros(2, 3), zeros(2, 4), 2.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => KdLoss.SoftTarget(zeros(2, 3), zeros(2, 3), 0.0));
    }
}
