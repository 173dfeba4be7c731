using Distill.Core.Distillation;
using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Targets;
using Distill.Core.Models;
using Distill.Core.Tests.Export;
using Distill.Core.Text;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Text;

/// <summary>A language-model teacher given as an ONNX file: the logits ONNX Runtime computes serve KD, the top-k
/// cache and evaluation exactly as the TorchSharp model they were exported from, and files that are not language
/// models are refused naming the file.</summary>
public class OnnxLmTeacherTests
{
    private const double Tolerance = 1e-4;
    private static readonly TransformerLmOptions TeacherSizes = new() { Layers = 2, DModel = 32, Heads = 4, Context = 16, VocabSize = 256 };
    private static readonly TransformerLmOptions StudentSizes = new() { Layers = 1, DModel = 16, Heads = 2, Context = 16, VocabSize = 256 };

    /// <summary>A seeded teacher with weights 4× their initial ones (peaked, non-uniform next-token distributions).</summary>
    private static TransformerLm NewTeacher(int seed)
    {
        manual_seed(seed);
        var model = new TransformerLm(TeacherSizes);
        using var noGrad = no_grad();
        foreach (var p in model.parameters())
            p.mul_(4);
        return model;
    }

    private static string Export(TransformerLm model, string path)
    {
        var profile = new TargetProfile { Name = "onnx-fp32", Precision = ExportPrecision.Float32 };
        var card = LanguageModelExport.StaticCard(model, new ByteTokenizer(), profile, null, new ExportSource(null, "test"));
        var options = profile.ExportOptions(new Dictionary<string, string> { [ModelCard.MetadataKey] = ModelCard.ToJson(card, indented: false) });
        return LmOnnxExporter.Export(model, options, path).Path;
    }

    /// <summary>23 windows of 16 random byte tokens (an odd count: the last ONNX Runtime batch is partial).</summary>
    private static TokenWindows Windows(int seed)
    {
        var random = new Random(seed);
        var tokens = Enumerable.Range(0, 23 * 16 + 1).Select(_ => random.Next(256)).ToArray();
        return TokenWindows.FromSegments([tokens], context: 16, stride: 16);
    }

    private static OnnxLmTeacher Load(string path, int batchSize = 5) =>
        OnnxLmTeacher.Load(new OnnxTeacherOptions { Path = path, BatchSize = batchSize }, path);

    [Fact]
    public void Kd_loss_top_k_cache_and_validation_match_the_torchsharp_teacher()
    {
        using var folder = new ExportFolder();
        using var torchTeacher = NewTeacher(5);
        using var onnxTeacher = Load(Export(torchTeacher, folder.File("teacher.onnx")));
        Assert.Equal(256, onnxTeacher.VocabSize);
        Assert.Equal(16, onnxTeacher.Context);
        Assert.Equal(ByteTokenizer.KindName, onnxTeacher.Tokenizer.Kind);
        using var windows = Windows(8);
        manual_seed(6);
        using var student = new TransformerLm(StudentSizes);
        var kd = new LossOptions { Terms = [new KdOptions { Temperature = 2, Alpha = 0.5 }] };
        using var torchLoss = LmLossTests.NewLoss(kd, StudentSizes, TeacherSizes);
        using var onnxLoss = new DistillationLoss(kd, LossModel.Of(StudentSizes), LossModel.LogitsOf("an ONNX teacher", onnxTeacher.VocabSize));

        using (var scope = NewDisposeScope())
        {
            var (input, target) = windows.Slice(0, 11);
            var studentOutput = ModelOutputs.Of(student.Run(input, [], false));
            ModelOutputs torchOutput, onnxOutput;
            using (no_grad())
            {
                torchOutput = new ModelOutputs(((ILmLogitSource)torchTeacher).Logits(input));
                onnxOutput = new ModelOutputs(onnxTeacher.Logits(input));
            }
            Assert.Equal(torchOutput.Logits.shape, onnxOutput.Logits.shape);
            Assert.True(ExportAssert.MaxAbsDiff(torchOutput.Logits, onnxOutput.Logits) < 1e-3);
            double fromTorch = torchLoss.Compute(new LossInputs(studentOutput, torchOutput, target)).Part("kd")!.item<float>();
            double fromOnnx = onnxLoss.Compute(new LossInputs(studentOutput, onnxOutput, target)).Part("kd")!.item<float>();
            Assert.True(fromTorch > 0.01, $"KD loss {fromTorch}");
            Assert.Equal(fromTorch, fromOnnx, Tolerance);
        }

        using var torchCache = TopKTeacherCache.Build(torchTeacher, windows, k: 8, temperature: 2, batchSize: 7);
        using var onnxCache = TopKTeacherCache.Build(onnxTeacher, windows, k: 8, temperature: 2, batchSize: 7);
        Assert.Equal(torchCache.Count, onnxCache.Count);
        using (var scope = NewDisposeScope())
        {
            var all = Enumerable.Range(0, (int)windows.Count).Select(i => (long)i).ToArray();
            var a = torchCache.Batch(all);
            var b = onnxCache.Batch(all);
            Assert.True(ExportAssert.MaxAbsDiff(a.Values, b.Values) < Tolerance * 10);
            var studentLogits = student.forward(windows.Inputs);
            double lossTorch = TopKTeacherCache.Loss(studentLogits, a, 2).item<float>();
            double lossOnnx = TopKTeacherCache.Loss(studentLogits, b, 2).item<float>();
            Assert.Equal(lossTorch, lossOnnx, Tolerance);
        }

        var torchEval = LmEvaluator.Evaluate(torchTeacher, windows, new ByteTokenizer(), 4);
        var onnxEval = LmEvaluator.Evaluate(onnxTeacher, windows, new ByteTokenizer(), 4);
        Assert.Equal(torchEval.BitsPerByte, onnxEval.BitsPerByte, Tolerance);
    }

    [Fact]
    public void Hint_losses_are_refused_for_a_teacher_known_by_its_logits_only()
    {
        var hint = new LossOptions { Terms = [new HintLossOptions { Hints = [new HintOptions { StudentTap = "block0", TeacherTap = "block1" }] }] };
        var e = Assert.Throws<InvalidInputException>(() => new DistillationLoss(hint, LossModel.Of(StudentSizes), LossModel.LogitsOf("an ONNX teacher", 256)));
        Assert.Contains("hidden states", e.Message);
    }

    [Fact]
    public void Files_that_are_not_language_models_or_lack_the_logits_output_are_refused_naming_the_file()
    {
        using var folder = new ExportFolder();
        using var teacher = NewTeacher(2);
        string lm = Export(teacher, folder.File("lm.onnx"));
        var missing = Assert.Throws<InvalidInputException>(() =>
            OnnxLmTeacher.Load(new OnnxTeacherOptions { Path = lm, LogitsOutput = "probs" }, lm));
        Assert.Contains(lm, missing.Message);
        Assert.Contains("no output 'probs'", missing.Message);
        Assert.Contains("logits", missing.Message);
        var taps = Assert.Throws<InvalidInputException>(() =>
            OnnxLmTeacher.Load(new OnnxTeacherOptions { Path = lm, Taps = new Dictionary<string, string> { ["block0"] = "block0" } }, lm));
        Assert.Contains("taps", taps.Message);

        manual_seed(1);
        using var mlp = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [8] }, [64], 10);
        string image = new OnnxExporter().Export(mlp, null, new ExportOptions(), folder.File("mlp.onnx")).Path;
        var notLm = Assert.Throws<InvalidInputException>(() => Load(image));
        Assert.Contains(image, notLm.Message);
    }
}
