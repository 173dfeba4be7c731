using Distill.Core.Distillation;
using Distill.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Text;

public class LmLossTests
{
    [Fact]
    public void SoftTargetKlOfIdenticalLogitsIsZero()
    {
        torch.manual_seed(4);
        using var scope = NewDisposeScope();
        var logits = randn(2, 5, 11);
        Assert.Equal(0.0, LmLosses.SoftTargetKl(logits, logits.clone(), 2.0).item<float>(), 6);
    }

    [Fact]
    public void SoftTargetKlMatchesAHandComputation()
    {
        using var scope = NewDisposeScope();
        // Two positions over three tokens, T = 2.
        double[][] s = [[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]];
        double[][] t = [[2.0, 1.0, 0.0], [0.0, 1.0, 0.0]];
        const double T = 2.0;
        double expected = 0;
        for (int i = 0; i < 2; i++)
        {
            var p = Softmax(t[i].Select(v => v / T).ToArray());
            var q = Softmax(s[i].Select(v => v / T).ToArray());
            expected += Enumerable.Range(0, 3).Sum(j => p[j] * Math.Log(p[j] / q[j]));
        }
        expected = expected / 2 * T * T;
        var student = tensor(s.SelectMany(r => r).Select(v => (float)v).ToArray(), [1, 2, 3]);
        var teacher = tensor(t.SelectMany(r => r).Select(v => (float)v).ToArray(), [1, 2, 3]);
        Assert.Equal(expected, LmLosses.SoftTargetKl(student, teacher, T).item<float>(), 5);

        var targets = tensor(new long[] { 0, 2 }, [1, 2]);
        double ce = (-Math.Log(Softmax(s[0])[0]) - Math.Log(Softmax(s[1])[2])) / 2;
        Assert.Equal(ce, LmLosses.NextTokenCrossEntropy(student, targets).item<float>(), 5);
        Assert.Equal(0.25 * expected + 0.75 * ce, LmLosses.Mixed(student, teacher, targets, 0.25, T).item<float>(), 5);
    }

    [Fact]
    public void AttentionMapKlMatchesAHandComputationAndIsZeroForIdenticalMaps()
    {
        using var scope = NewDisposeScope();
        // One batch, T = 2, causal rows. Student has two heads (averaged), teacher one.
        var student = tensor(new float[] { 1, 0, 0.5f, 0.5f, 1, 0, 0.7f, 0.3f }, [1, 2, 2, 2]);
        var teacher = tensor(new float[] { 1, 0, 0.2f, 0.8f }, [1, 1, 2, 2]);
        // Head-averaged student row 1 = (0.6, 0.4); row 0 is (1, 0) in both and contributes 0.
        double expected = (0.2 * Math.Log(0.2 / 0.6) + 0.8 * Math.Log(0.8 / 0.4)) / 2;
        Assert.Equal(expected, LmLosses.AttentionMapKl(student, teacher).item<float>(), 5);
        Assert.Equal(0.0, LmLosses.AttentionMapKl(teacher, teacher.clone()).item<float>(), 6);
    }

    [Fact]
    public void TopKLossWithFullVocabularyEqualsTheFullKl()
    {
        torch.manual_seed(5);
        using var scope = NewDisposeScope();
        var teacher = randn(3, 8, 64) * 3;
        var student = randn(3, 8, 64) * 2;
        const double T = 2.0;
        var full = LmLosses.SoftTargetKl(student, teacher, T).item<float>();
        var cached = TopKTeacherCache.Loss(student, TopKTeacherCache.FromLogits(teacher, 64, T), T).item<float>();
        Assert.True(Math.Abs(full - cached) < 1e-5, $"full {full}, cached {cached}");

        // Merging the tokens outside the top k into one bucket can only lose information: KL(k+1 buckets) ≤ KL.
        var top16 = TopKTeacherCache.Loss(student, TopKTeacherCache.FromLogits(teacher, 16, T), T).item<float>();
        Assert.InRange(top16, 0.5 * full, full + 1e-5);
    }

    [Fact]
    public void TopKLossGradientMatchesTheFullKlGradientWhenKIsTheVocabulary()
    {
        torch.manual_seed(6);
        using var scope = NewDisposeScope();
        var teacher = randn(2, 4, 20);
        var a = randn(2, 4, 20).requires_grad_();
        var b = a.detach().clone().requires_grad_();
        LmLosses.SoftTargetKl(a, teacher, 3.0).backward();
        TopKTeacherCache.Loss(b, TopKTeacherCache.FromLogits(teacher, 20, 3.0), 3.0).backward();
        Assert.True(a.grad!.allclose(b.grad!, rtol: 1e-3, atol: 1e-6));
    }

    [Fact]
    public void DistillationLossRejectsVocabularyMismatchAndUnknownLayers()
    {
        var student = new TransformerLmOptions { Layers = 1, DModel = 16, Heads = 2, Context = 8, VocabSize = 256 };
        var teacher = student with { Layers = 2, DModel = 32, VocabSize = 77 };
        var kd = new LossOptions { Terms = [new KdOptions { Temperature = 2, Alpha = 0.5 }] };
        var error = Assert.Throws<InvalidInputException>(() => NewLoss(kd, student, teacher));
        Assert.Contains("vocabularies differ", error.Message);
        var hint = new LossOptions { Terms = [new HintLossOptions { Hints = [new HintOptions { StudentTap = "block0", TeacherTap = "block2" }] }] };
        error = Assert.Throws<InvalidInputException>(() => NewLoss(hint, student, teacher));
        Assert.Contains("block2", error.Message);
        Assert.Throws<InvalidInputException>(() => NewLoss(kd, student, null));
    }

    [Fact]
    public void HintAndAttentionTermsReachTheStudentAndTheAdapter()
    {
        torch.manual_seed(7);
        var studentOptions = new TransformerLmOptions { Layers = 1, DModel = 16, Heads = 2, Context = 8, VocabSize = 40 };
        var teacherOptions = studentOptions with { Layers = 2, DModel = 32, Heads = 4 };
        using var student = new TransformerLm(studentOptions);
        using var teacher = new TransformerLm(teacherOptions);
        var options = new LossOptions
        {
            Terms =
            [
                new KdOptions { Temperature = 2, Alpha = 0.5 },
                new HintLossOptions { Hints = [new HintOptions { StudentTap = "block0", TeacherTap = "block1", Weight = 0.5 }] },
                new AttentionDistillOptions { StudentBlock = "block0", TeacherBlock = "block1" },
            ],
        };
        using var loss = NewLoss(options, studentOptions, teacherOptions);
        Assert.Single(loss.parameters(), p => p.shape.SequenceEqual(new long[] { 32, 16 }));
        using var scope = NewDisposeScope();
        var tokens = randint(0, 40, [4, 8]);
        var targets = randint(0, 40, [4, 8]);
        LmOutput teacherOut;
        using (no_grad())
        {
            teacherOut = teacher.Run(tokens, loss.TeacherTaps, loss.NeedsAttention);
        }
        var terms = loss.Compute(new LossInputs(ModelOutputs.Of(student.Run(tokens, loss.StudentTaps, loss.NeedsAttention)), ModelOutputs.Of(teacherOut), targets));
        terms.Total.backward();
        // The hint and attention parts are the weighted terms they add (0.5 · MSE and 1 · KL).
        double expected = 0.5 * terms.Part("kd")!.item<float>() + 0.5 * terms.Part("cross_entropy")!.item<float>()
            + terms.Part("hint")!.item<float>() + terms.Part("attention")!.item<float>();
        Assert.Equal(expected, terms.Total.item<float>(), 4);
        Assert.True(terms.Part("attention")!.item<float>() > 0);
        Assert.All(loss.parameters(), p => Assert.True(p.grad!.abs().sum().item<float>() > 0));
        Assert.True(student.get_parameter("blocks.0.attn.qkv.weight")!.grad!.abs().sum().item<float>() > 0);
        Assert.All(teacher.parameters(), p => Assert.Null(p.grad));
    }

    internal static DistillationLoss NewLoss(LossOptions options, TransformerLmOptions student, TransformerLmOptions? teacher) =>
        new(options, LossModel.Of(student), teacher is null ? null : LossModel.Of(teacher));

    private static double[] Softmax(double[] x)
    {
        double max = x.Max();
        var e = x.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }
}
