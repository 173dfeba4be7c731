using Distill.Core.Distillation;
using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Distillation;

public class DistillationLossTests
{
    private static readonly ModelSpec StudentSpec = new() { Arch = ModelArch.Cnn, Channels = [4, 8], Hidden = [] };
    private static readonly ModelSpec TeacherSpec = new() { Arch = ModelArch.Cnn, Channels = [8, 16], Hidden = [32] };
    private static readonly long[] Input = [1, 12, 12];

    [Fact]
    public void AlphaZeroEqualsPlainCrossEntropy()
    {
        torch.manual_seed(1);
        using var student = ModelZoo.Build(StudentSpec, Input, 10);
        using var teacher = ModelZoo.Build(TeacherSpec, Input, 10); // KD needs a teacher; its logits here are random
        using var loss = NewLoss(new LossOptions { Terms = [new KdOptions { Alpha = 0, Temperature = 4 }] }, student, teacher);
        using var scope = NewDisposeScope();
        var studentLogits = randn(6, 10);
        var teacherLogits = randn(6, 10);
        var labels = tensor(new long[] { 0, 3, 9, 2, 2, 7 });
        var terms = loss.Compute(new LossInputs(new ModelOutputs(studentLogits), new ModelOutputs(teacherLogits), labels));
        double ce = nn.functional.cross_entropy(studentLogits, labels).item<float>();
        Assert.Equal(ce, terms.Total.item<float>(), 1e-6);
        Assert.Equal(ce, terms.Part("cross_entropy")!.item<float>(), 1e-6);
        Assert.NotNull(terms.Part("kd"));
        Assert.True(terms.Part("kd")!.item<float>() > 0.1);
        Assert.Null(terms.Part("hint"));
    }

    [Fact]
    public void KdMixesSoftAndHardTerms()
    {
        using var student = ModelZoo.Build(StudentSpec, Input, 10);
        using var teacher = ModelZoo.Build(TeacherSpec, Input, 10);
        using var loss = NewLoss(new LossOptions { Terms = [new KdOptions { Alpha = 0.7, Temperature = 3 }] }, student, teacher);
        Assert.True(loss.NeedsTeacher);
        Assert.Empty(loss.StudentTaps);
        using var scope = NewDisposeScope();
        var studentLogits = randn(5, 10);
        var teacherLogits = randn(5, 10);
        var labels = tensor(new long[] { 1, 2, 3, 4, 5 });
        var terms = loss.Compute(new LossInputs(new ModelOutputs(studentLogits), new ModelOutputs(teacherLogits), labels));
        double soft = KdLoss.SoftTarget(studentLogits, teacherLogits, 3).item<float>();
        double ce = nn.functional.cross_entropy(studentLogits, labels).item<float>();
        Assert.Equal(0.7 * soft + 0.3 * ce, terms.Total.item<float>(), 1e-5);
    }

    [Fact]
    public void LabelSmoothingMatchesHandValue()
    {
        using var student = ModelZoo.Build(StudentSpec, Input, 3);
        using var loss = NewLoss(new LossOptions { Terms = [new CrossEntropyOptions { LabelSmoothing = 0.1 }] }, student, null);
        Assert.False(loss.NeedsTeacher);
        using var scope = NewDisposeScope();
        double[] logits = [2.0, 0.5, -1.0];
        var terms = loss.Compute(new LossInputs(new ModelOutputs(tensor(logits.Select(v => (float)v).ToArray()).reshape(1, 3)), null, tensor(new long[] { 0 })));
        // smoothed target: (1 − ε) on the label plus ε/C on every class; loss = −Σ_i q_i log p_i
        double logSum = Math.Log(logits.Sum(Math.Exp));
        var logP = logits.Select(z => z - logSum).ToArray();
        double expected = -(0.9 * logP[0] + 0.1 / 3 * logP.Sum());
        Assert.Equal(expected, terms.Total.item<float>(), 1e-5);
        Assert.Null(terms.Part("kd"));
    }

    [Fact]
    public void ConvHintAdapterIsTrainedWithTheStudent()
    {
        torch.manual_seed(2);
        // 16 channels into block1: LibTorch's oneDNN returns NaN input gradients now and then below that (architecture.md).
        using var student = ModelZoo.Build(StudentSpec with { Channels = [16, 24] }, Input, 10);
        using var teacher = ModelZoo.Build(TeacherSpec, Input, 10);
        var options = new LossOptions
        {
            Terms = [new KdOptions(), Hint(new HintOptions { StudentTap = "block1", TeacherTap = "block1", Weight = 0.5 })],
        };
        using var loss = NewLoss(options, student, teacher);
        var adapter = Assert.IsType<TorchSharp.Modules.Conv2d>(Assert.Single(loss.Adapters, a => a.Key == "adapter").Value);
        Assert.Equal(new long[] { 16, 24, 1, 1 }, adapter.weight!.shape); // student block1 [24,3,3] → teacher block1 [16,3,3]
        Assert.Equal(["block1"], loss.StudentTaps);
        Assert.Equal(["block1"], loss.TeacherTaps);
        Assert.Contains("adapter.weight", loss.named_parameters().Select(p => p.name));

        using var scope = NewDisposeScope();
        var x = randn(4, 1, 12, 12);
        var labels = tensor(new long[] { 1, 2, 3, 4 });
        var (studentLogits, studentTaps) = student.ForwardWithTaps(x, loss.StudentTaps);
        Tensor teacherLogits;
        IReadOnlyDictionary<string, Tensor> teacherTaps;
        using (no_grad())
        {
            (teacherLogits, teacherTaps) = teacher.ForwardWithTaps(x, loss.TeacherTaps);
        }
        var terms = loss.Compute(new LossInputs(new ModelOutputs(studentLogits, studentTaps), new ModelOutputs(teacherLogits, teacherTaps), labels));
        Assert.NotNull(terms.Part("hint"));
        // The hint part is the weighted term it adds: 0.5 · MSE(adapter(student block1), teacher block1).
        double mse = nn.functional.mse_loss(adapter.forward(studentTaps["block1"]), teacherTaps["block1"]).item<float>();
        Assert.Equal(0.5 * mse, terms.Part("hint")!.item<float>(), 1e-6);
        double expectedTotal = 0.9 * terms.Part("kd")!.item<float>() + 0.1 * terms.Part("cross_entropy")!.item<float>() + 0.5 * mse;
        Assert.Equal(expectedTotal, terms.Total.item<float>(), 1e-5);

        terms.Total.backward();
        foreach (var (name, p) in loss.named_parameters())
        {
            Assert.NotNull(p.grad);
            Assert.True(p.grad!.abs().sum().item<float>() > 0, $"adapter parameter {name} got no gradient");
        }
        Assert.True(student.Graph["block1.conv"].Weight.grad!.abs().sum().item<float>() > 0, "the tapped student block got no gradient");
        Assert.All(teacher.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void LinearHintAdapterFlattensBothTaps()
    {
        using var student = ModelZoo.Build(StudentSpec, Input, 10);
        using var teacher = ModelZoo.Build(TeacherSpec, Input, 10);
        var options = new LossOptions { Terms = [Hint(new HintOptions { StudentTap = "features", TeacherTap = "block0" })] };
        using var loss = NewLoss(options, student, teacher);
        var adapter = Assert.IsType<TorchSharp.Modules.Linear>(loss.Adapters["adapter"]);
        Assert.Equal(new long[] { 8 * 6 * 6, 8 * 3 * 3 }, adapter.weight!.shape);

        using var scope = NewDisposeScope();
        var x = randn(3, 1, 12, 12);
        var (studentLogits, studentTaps) = student.ForwardWithTaps(x, loss.StudentTaps);
        var (teacherLogits, teacherTaps) = teacher.ForwardWithTaps(x, loss.TeacherTaps);
        var terms = loss.Compute(new LossInputs(new ModelOutputs(studentLogits, studentTaps), new ModelOutputs(teacherLogits, teacherTaps), tensor(new long[] { 0, 1, 2 })));
        // Weight 1: the hint part is the MSE itself.
        var expectedHint = nn.functional.mse_loss(adapter.forward(studentTaps["features"]), teacherTaps["block0"].flatten(1));
        Assert.Equal(expectedHint.item<float>(), terms.Part("hint")!.item<float>(), 1e-6);
        terms.Total.backward();
        Assert.True(adapter.weight!.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void UnknownTapNamesTheTapAndTheValidOnes()
    {
        using var student = ModelZoo.Build(StudentSpec, Input, 10);
        using var teacher = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [16] }, Input, 10);
        var badStudent = new LossOptions { Terms = [Hint(new HintOptions { StudentTap = "block5", TeacherTap = "hidden0" })] };
        var error = Assert.Throws<InvalidInputException>(() => NewLoss(badStudent, student, teacher));
        Assert.Contains("'block5'", error.Message);
        Assert.Contains("block0, block1, features, logits", error.Message);

        var badTeacher = new LossOptions { Terms = [Hint(new HintOptions { StudentTap = "block1", TeacherTap = "block1" })] };
        error = Assert.Throws<InvalidInputException>(() => NewLoss(badTeacher, student, teacher));
        Assert.Contains("'block1'", error.Message);
        Assert.Contains("hidden0, logits", error.Message);

        Assert.Throws<InvalidInputException>(() => NewLoss(badTeacher, student, null));
    }

    internal static DistillationLoss NewLoss(LossOptions options, ITeacher student, ITeacher? teacher) =>
        new(options, LossModel.Of(student), teacher is null ? null : LossModel.Of(teacher));

    internal static HintLossOptions Hint(HintOptions hint) => new() { Hints = [hint] };
}
