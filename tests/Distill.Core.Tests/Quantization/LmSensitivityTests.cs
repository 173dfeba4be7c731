using Distill.Core.Quantization.Sensitivity;
using Distill.Core.Tests.Text;
using Distill.Core.Text;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Quantization;

/// <summary>Language-model sensitivity: the SQNR from the Gram matrix is the SQNR of the layer's output computed
/// directly, int4 groups lose about 6 dB a bit against int8, and the model's weights are as before afterwards.</summary>
public class LmSensitivityTests(ITestOutputHelper output)
{
    [Fact]
    public void LayerOutputSqnrMatchesTheDirectComputationAndTheModelIsLeftUnchanged()
    {
        var tokenizer = ByteTokenizer.Instance;
        using var data = TextData.Load(TextTestData.Corpus, new TextDataOptions { Tokenizer = "byte", Context = 16, ValidationFraction = 0.1, Blocks = 10 }, tokenizer);
        using var validation = data.Validation.Spread(32);
        using var calibration = data.Train.Spread(16);
        manual_seed(3);
        using var model = new TransformerLm(new TransformerLmOptions { Layers = 1, DModel = 32, Heads = 2, Context = 16, VocabSize = 256 });
        using (var noGrad = no_grad())
        {
            foreach (var p in model.parameters())
                p.mul_(5);
        }
        var before = model.parameters().Select(p => p.detach().clone()).ToList();

        var report = LmSensitivity.Analyze(model, tokenizer, validation, calibration, [8, 4], groupSize: 16, calibrationWindows: 16);
        Assert.Equal(8, report.Layers.Count); // 4 linear layers x {int8, int4 g16}
        Assert.Equal(["int8", "int4 g16"], report.Layers.Select(l => l.Precision).Distinct());
        foreach (var p in model.parameters().Zip(before))
            Assert.True(p.First.allclose(p.Second, rtol: 0, atol: 0), "the analysis put back every weight");

        // Directly: the mlp_fc output on the calibration windows with W and with W quantised to int8.
        var fc = model.Layers.Single(l => l.Name == "blocks.0.mlp_fc");
        var linear = (TorchSharp.Modules.Linear)fc.Module!;
        var inputs = new List<Tensor>();
        var hook = linear.register_forward_pre_hook((_, x) => { inputs.Add(x.detach().clone()); return x; });
        using (var noGrad = no_grad())
        {
            model.eval();
            model.forward(calibration.Slice(0, calibration.Count).Input);
        }
        hook.remove();
        using var x = inputs.Single().reshape(-1, 32);
        var w = linear.weight!.detach().clone();
        using var scales = w.abs().amax([1], keepdim: true) / 127.0;
        using var q = (w / scales).round().clamp(-127, 127) * scales;
        using var signal = x.matmul(w.t()).pow(2).sum();
        using var noise = x.matmul((w - q).t()).pow(2).sum();
        double direct = 10 * Math.Log10(signal.item<float>() / noise.item<float>());
        var row = report.Layers.Single(l => l.Layer == "blocks.0.mlp_fc" && l.Precision == "int8");
        output.WriteLine($"mlp_fc int8: SQNR {row.SqnrDb:F3} dB from the Gram matrix, {direct:F3} dB directly");
        Assert.Equal(direct, row.SqnrDb!.Value, 1);

        foreach (var layer in report.Layers.GroupBy(l => l.Layer))
        {
            double int8 = layer.Single(l => l.Precision == "int8").SqnrDb!.Value, int4 = layer.Single(l => l.Precision == "int4 g16").SqnrDb!.Value;
            output.WriteLine($"{layer.Key}: int8 {int8:F1} dB, int4 {int4:F1} dB");
            Assert.InRange(int8 - int4, 12, 36);
        }
    }
}
