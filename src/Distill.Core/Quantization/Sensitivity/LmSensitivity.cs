using Distill.Core.Export.Onnx;
using Distill.Core.Text;

namespace Distill.Core.Quantization.Sensitivity;

/// <summary>Per-layer sensitivity of a language model: each linear layer of the blocks alone with int8 weights (one
/// symmetric scale per output feature, as the int8 ONNX export writes them) and with 4-bit groups (round to nearest),
/// the rest in float; validation bits per byte in TorchSharp and the SQNR of the layer's output on calibration text,
/// ‖XWᵀ‖² / ‖X(W − Ŵ)ᵀ‖² from the layer's input Gram matrix.</summary>
public static class LmSensitivity
{
    public const int EvaluationBatch = 32;

    /// <param name="bits">The widths to try: 8 (int8) and/or 4 (int4 groups).</param>
    /// <param name="groupSize">The int4 groups; null: the largest of 16..32 that divides every layer (none: int4 rows are left out).</param>
    public static SensitivityReport Analyze(TransformerLm model, ITokenizer tokenizer, TokenWindows validation, TokenWindows calibration,
        IReadOnlyCollection<int> bits, int? groupSize = null, int calibrationWindows = 64, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(bits);
        var layers = LmInt4Quantizer.Layers(model);
        int? group = !bits.Contains(4) ? null
            : groupSize ?? new[] { 32, 16 }.Cast<int?>().FirstOrDefault(g => layers.All(l => l.Inputs % g!.Value == 0));
        if (group is { } g && layers.FirstOrDefault(l => l.Inputs % g != 0) is { Name: not null } bad)
            throw new InvalidInputException($"--group-size {g} does not divide {bad.Name}'s input size {bad.Inputs}");
        bool wasTraining = model.training;
        model.eval();
        try
        {
            double baseline = LmEvaluator.Evaluate(model, validation, tokenizer, EvaluationBatch, cancel).BitsPerByte;
            using var windows = calibration.Spread(Math.Min(calibrationWindows, calibration.Count));
            var rows = new List<LayerSensitivity>();
            foreach (var (name, module, inputs) in layers)
            {
                cancel.ThrowIfCancellationRequested();
                var (weight, outputs) = LmInt4Quantizer.Weight(module);
                var gram = LmInt4Quantizer.Hessian(model, module, inputs, windows);
                double signal = Energy(gram, weight, null, outputs, inputs);
                var candidates = new List<(string Precision, float[] Values)>();
                if (bits.Contains(8))
                    candidates.Add(("int8", Int8(weight, outputs, inputs)));
                if (group is { } size)
                    candidates.Add(($"int4 g{size}", GroupQuantizedMatrix.RoundToNearest(weight, outputs, inputs, size, symmetric: true).Dequantize()));
                foreach (var (precision, values) in candidates)
                {
                    LmInt4Quantizer.SetWeight(module, values);
                    try
                    {
                        double bpb = LmEvaluator.Evaluate(model, validation, tokenizer, EvaluationBatch, cancel).BitsPerByte;
                        rows.Add(new(name, precision, weight.Length, bpb, bpb - baseline,
                            SensitivityReport.Sqnr(signal, Energy(gram, weight, values, outputs, inputs))));
                    }
                    finally
                    {
                        LmInt4Quantizer.SetWeight(module, weight);
                    }
                }
            }
            return new SensitivityReport(LmCheckpoint.Describe(model.Options), "val_bpb", baseline,
                "each linear layer of the blocks quantised alone (weights only; int8: symmetric, one scale per output feature; " +
                $"int4: round to nearest in symmetric groups{(group is { } gs ? $" of {gs}" : "")}), the rest float; validation bits per byte in TorchSharp; " +
                $"SQNR of the layer's output on {windows.Count} calibration windows; the tied head stays float", rows);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Σ over output rows of dᵀ G d with d = W (or W − Ŵ): the layer output's energy (or its error's) times
    /// n/2 for the Gram matrix G = 2/n XᵀX.</summary>
    private static double Energy(double[] gram, float[] weight, float[]? quantized, int outputs, int inputs)
    {
        double total = 0;
        var d = new double[inputs];
        for (int r = 0; r < outputs; r++)
        {
            for (int i = 0; i < inputs; i++)
                d[i] = weight[r * inputs + i] - (quantized?[r * inputs + i] ?? 0);
            for (int i = 0; i < inputs; i++)
            {
                double row = 0;
                for (int j = 0; j < inputs; j++)
                    row += gram[i * inputs + j] * d[j];
                total += d[i] * row;
            }
        }
        return total;
    }

    /// <summary>The int8 export's weights (<see cref="LmWeightQuantizer"/>) dequantised, back in [out, in] order.</summary>
    private static float[] Int8(float[] weight, int outputs, int inputs)
    {
        var (codes, scales) = LmWeightQuantizer.Quantize(weight, outputs, inputs, 8, perChannel: true);
        var values = new float[weight.Length];
        for (int o = 0; o < outputs; o++)
        {
            for (int i = 0; i < inputs; i++)
                values[o * inputs + i] = codes[i * outputs + o] * scales[o];
        }
        return values;
    }

}
