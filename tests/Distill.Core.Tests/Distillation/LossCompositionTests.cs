using Distill.Core.Distillation;
using Distill.Core.Text;
using Distill.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Distillation;

/// <summary>The one loss composition: terms from <see cref="Losses.Registry"/> folded in registry order over
/// <see cref="ModelOutputs"/>, adapters under the names checkpoints hold them by, option ranges from the registry.</summary>
public class LossCompositionTests
{
    /// <summary>A model with one tap "h" of 2 features per sample: a hint's adapter is then a 2→2 linear layer set by hand.</summary>
    private static readonly LossModel TwoFeatures = new() { Description = "hand", Taps = ["h"], TapShape = _ => [2] };

    private static readonly TransformerLmOptions StudentLm = new() { Layers = 1, DModel = 8, Heads = 2, Context = 4, VocabSize = 11 };
    private static readonly TransformerLmOptions TeacherLm = StudentLm with { Layers = 2, DModel = 12, Heads = 3 };

    [Fact]
    public void Composed_classifier_loss_equals_the_hand_computed_formula()
    {
        var options = new LossOptions
        {
            Terms =
            [
                Hints(("h", "h", 0.5)),
                new KdOptions { Temperature = 2, Alpha = 0.25 },
                new CrossEntropyOptions { LabelSmoothing = 0.1 },
            ],
        };
        using var loss = new DistillationLoss(options, TwoFeatures, TwoFeatures);
        // Listed in any order, the terms fold in registry order.
        Assert.Equal(["cross_entropy", "kd", "hint"], loss.TermNames);
        var adapter = Assert.IsType<TorchSharp.Modules.Linear>(loss.Adapters["adapter"]);
        using (no_grad())
        {
            adapter.weight!.copy_(tensor(new float[] { 2, 0, 0, 2 }, [2, 2]));
            adapter.bias!.copy_(tensor(new float[] { 0, 1 }));
        }
        using var scope = NewDisposeScope();
        var s = tensor(new float[] { 1, 0, -1, 0.5f, 2, 0 }, [2, 3]);
        var t = tensor(new float[] { 0, 1, 2, 1, 1, 0 }, [2, 3]);
        var labels = tensor(new long[] { 0, 1 });
        var studentTap = tensor(new float[] { 1, 2, 0, -1 }, [2, 2]);
        var teacherTap = tensor(new float[] { 2, 4, 1, 0 }, [2, 2]);
        var result = loss.Compute(new LossInputs(new ModelOutputs(s, Taps(studentTap)), new ModelOutputs(t, Taps(teacherTap)), labels));

        // CE with ε = 0.1 over 3 classes: q = 0.9·onehot + 0.1/3, CE = mean over the 2 samples of −Σ_c q_c log softmax(s)_c.
        Assert.Equal(0.4653141716700968, result.Part("cross_entropy")!.item<float>(), 1e-6);
        // KD at T = 2: T² · mean over the samples of Σ_c p_c log(p_c / q_c), p = softmax(t / 2), q = softmax(s / 2).
        Assert.Equal(0.7522458042274623, result.Part("kd")!.item<float>(), 1e-6);
        // Hint: adapter(x) = 2x + [0, 1] = [[2, 5], [0, −1]]; minus the teacher tap [[2, 4], [1, 0]] leaves
        // [[0, 1], [−1, −1]]: MSE 3/4, times the weight 0.5.
        Assert.Equal(0.375, result.Part("hint")!.item<float>(), 1e-6);
        // total = 0.25 · KD + 0.75 · CE + 0.375.
        Assert.Equal(0.9120470798094382, result.Total.item<float>(), 1e-6);

        // Bit for bit, the total is these operations in this order (runs repeat exactly; checkpoints resume exactly):
        // alpha · KD + (1 − alpha) · CE, then + weight · MSE.
        var byHand = 0.25 * KdLoss.SoftTarget(s, t, 2) + (1 - 0.25) * nn.functional.cross_entropy(s, labels, label_smoothing: 0.1);
        byHand = byHand + 0.5 * nn.functional.mse_loss(adapter.call(studentTap), teacherTap);
        Assert.Equal(byHand.item<float>(), result.Total.item<float>());
    }

    [Fact]
    public void Language_model_hints_are_summed_before_they_join_the_total_then_attention_is_added()
    {
        manual_seed(9);
        using var student = new TransformerLm(StudentLm);
        using var teacher = new TransformerLm(TeacherLm);
        var options = new LossOptions
        {
            Terms =
            [
                new AttentionDistillOptions { StudentBlock = "block0", TeacherBlock = "block1", Weight = 0.1 },
                Hints(("block0", "block1", 0.5), ("final", "final", 0.25)),
                new KdOptions { Temperature = 2, Alpha = 0.5 },
            ],
        };
        using var loss = new DistillationLoss(options, LossModel.Of(StudentLm), LossModel.Of(TeacherLm));
        Assert.Equal(["cross_entropy", "kd", "hint", "attention"], loss.TermNames);
        Assert.Equal(["block0", "final"], loss.StudentTaps);
        Assert.Equal(["block1", "final"], loss.TeacherTaps);
        Assert.True(loss.NeedsAttention);
        using var scope = NewDisposeScope();
        var tokens = randint(0, 11, [3, 4]);
        var targets = randint(0, 11, [3, 4]);
        LmOutput teacherOut;
        using (no_grad())
        {
            teacherOut = teacher.Run(tokens, loss.TeacherTaps, loss.NeedsAttention);
        }
        var studentOut = student.Run(tokens, loss.StudentTaps, loss.NeedsAttention);
        var result = loss.Compute(new LossInputs(ModelOutputs.Of(studentOut), ModelOutputs.Of(teacherOut), targets));

        // The language model's order, bit for bit: alpha · KD + (1 − alpha) · CE over the B·T positions; the hints'
        // weighted MSEs summed (each through its linear adapter d_student → d_teacher at every position), that sum
        // added; then weight · attention KL added.
        var kd = LmLosses.SoftTargetKl(studentOut.Logits, teacherOut.Logits, 2);
        var ce = LmLosses.NextTokenCrossEntropy(studentOut.Logits, targets);
        var hints = 0.5 * nn.functional.mse_loss(loss.Adapters["adapter0"].call(studentOut.Hidden["block0"]), teacherOut.Hidden["block1"]);
        hints = hints + 0.25 * nn.functional.mse_loss(loss.Adapters["adapter1"].call(studentOut.Hidden["final"]), teacherOut.Hidden["final"]);
        var attention = 0.1 * LmLosses.AttentionMapKl(studentOut.Attention["block0"], teacherOut.Attention["block1"]);
        var byHand = 0.5 * kd + (1 - 0.5) * ce;
        byHand = byHand + hints;
        byHand = byHand + attention;
        Assert.Equal(byHand.item<float>(), result.Total.item<float>());
        Assert.Equal(hints.item<float>(), result.Part("hint")!.item<float>());
        Assert.Equal(attention.item<float>(), result.Part("attention")!.item<float>());
    }

    [Fact]
    public void Adapters_keep_the_names_checkpoints_store_them_under()
    {
        // A classifier's one hint: "adapter", as every classifier checkpoint with a hint holds it.
        using var classifier = new DistillationLoss(new LossOptions { Terms = [Hints(("h", "h", 1.0))] }, TwoFeatures, TwoFeatures);
        Assert.Equal(["adapter.weight", "adapter.bias"], classifier.state_dict().Keys);

        // A language model's hints (loss.hint, then each of loss.hints): "adapter0", "adapter1", d_student → d_teacher.
        var options = new LossOptions { Terms = [Hints(("block0", "block1", 1.0), ("embed", "embed", 1.0))] };
        using var lm = new DistillationLoss(options, LossModel.Of(StudentLm), LossModel.Of(TeacherLm));
        Assert.Equal(["adapter0.weight", "adapter0.bias", "adapter1.weight", "adapter1.bias"], lm.state_dict().Keys);
        Assert.Equal(new long[] { 12, 8 }, lm.state_dict()["adapter1.weight"].shape);

        // The loss section of a checkpoint loads into a loss built alike (names and shapes must match exactly).
        using var again = new DistillationLoss(options, LossModel.Of(StudentLm), LossModel.Of(TeacherLm));
        WeightCodec.Load("checkpoint", again, WeightCodec.Encode(lm));
        Assert.True(again.state_dict()["adapter0.weight"].eq(lm.state_dict()["adapter0.weight"]).all().item<bool>());
    }

    [Fact]
    public void Option_ranges_are_the_registry_s_and_errors_name_the_key()
    {
        // One table of ranges: the recipe schema shows these, and the option records check them when a loss is built.
        AssertRefused(new KdOptions { Temperature = 0 }, "kd.temperature must be > 0, got 0.");
        AssertRefused(new KdOptions { Alpha = 1.5 }, "kd.alpha must be in [0, 1], got 1.5.");
        AssertRefused(new KdOptions { TeacherCacheTopK = 0 }, "teacher_cache.top_k must be in [1, 1048576], got 0.");
        AssertRefused(new CrossEntropyOptions { LabelSmoothing = 1 }, "label_smoothing must be in [0, 1), got 1.");
        AssertRefused(Hints(("h", "h", 0)), "hint.weight must be > 0, got 0.");
        AssertRefused(new AttentionDistillOptions { StudentBlock = "block0", TeacherBlock = "block0", Weight = -1 }, "attention.weight must be > 0, got -1.");
        Assert.Throws<ArgumentException>(() => new LossOptions { Terms = [new KdOptions(), new KdOptions { Alpha = 0.5 }] }.Resolved());
    }

    [Fact]
    public void Terms_that_need_a_live_teacher_s_internals_refuse_a_teacher_known_by_its_logits()
    {
        var logitsOnly = LossModel.LogitsOf("an ONNX teacher", 11);
        using var kd = new DistillationLoss(new LossOptions { Terms = [new KdOptions()] }, LossModel.Of(StudentLm), logitsOnly);
        Assert.True(kd.NeedsTeacher);
        var attention = new LossOptions { Terms = [new AttentionDistillOptions { StudentBlock = "block0", TeacherBlock = "block0" }] };
        var error = Assert.Throws<InvalidInputException>(() => new DistillationLoss(attention, LossModel.Of(StudentLm), logitsOnly));
        Assert.Equal("The attention loss needs the teacher's hidden states, but an ONNX teacher gives its logits only (use kd).", error.Message);
    }

    [Fact]
    public void The_registry_orders_the_terms_and_the_loss_section_s_keys()
    {
        Assert.Equal(["cross_entropy", "kd", "dkd", "hint", "attention"], Losses.Registry.Names);
        // The recipe's loss section: the terms' mappings and lists in registry order, then the section's own option.
        Assert.Equal(["kd", "teacher_cache", "dkd", "hint", "hints", "attention", "label_smoothing"], Losses.Keys.Select(k => k.Key.Key));
        Assert.Equal(["kd", "teacher_cache", "dkd", "hint", "hints", "attention"], Losses.KeysNeeding(LossNeeds.Teacher));
        Assert.Equal(["hint", "hints", "attention"], Losses.KeysNeeding(LossNeeds.TeacherInternals));
        // A language model's top-k cache serves kd alone: these need the teacher's full logits or internals at every step.
        Assert.Equal(["dkd", "hint", "hints", "attention"], Losses.KeysNeeding(LossNeeds.LiveTeacher));
        Assert.Equal(["teacher_cache", "hints", "attention"], Losses.Keys.Where(k => k.Key.LanguageModelsOnly).Select(k => k.Key.Key));
        Assert.Same(KdTerm.Entry, Losses.Of(new KdOptions()));
        // Every term has its own option record, so a record finds its entry.
        Assert.Equal(Losses.Registry.Entries.Count, Losses.Registry.Entries.Select(e => e.OptionsType).Distinct().Count());
    }

    private static void AssertRefused(ILossTermOptions term, string message)
    {
        var error = Assert.Throws<InvalidInputException>(() => new DistillationLoss(new LossOptions { Terms = [term] }, TwoFeatures, TwoFeatures));
        Assert.Equal(message, error.Message);
    }

    private static HintLossOptions Hints(params (string Student, string Teacher, double Weight)[] hints) =>
        new() { Hints = [.. hints.Select(h => new HintOptions { StudentTap = h.Student, TeacherTap = h.Teacher, Weight = h.Weight })] };

    private static Dictionary<string, Tensor> Taps(Tensor h) => new() { ["h"] = h };
}
