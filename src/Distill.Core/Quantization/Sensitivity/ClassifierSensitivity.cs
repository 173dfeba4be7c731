using Distill.Core.Data;
using Distill.Core.Models;
using static TorchSharp.torch;

namespace Distill.Core.Quantization.Sensitivity;

/// <summary>Per-layer sensitivity of a classifier: each conv and linear layer alone quantised (weights of each
/// candidate width per output channel, symmetric; its output int8, calibrated by min/max), every other layer and
/// the input in float; test accuracy and the SQNR of the logits against the float model's.</summary>
public static class ClassifierSensitivity
{
    private const int EvaluationBatch = 256;

    /// <param name="description">The model, for the report ("cnn with channels [16, 24] …").</param>
    public static SensitivityReport Analyze(ZooModel model, string description, TensorDataset calibration, TensorDataset test, IReadOnlyList<int> weightBits,
        int calibrationBatches = 8, int batchSize = 64, int seed = 0, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(weightBits);
        var baseConfig = new QuantConfig { QuantizeInput = false };
        List<string> layers;
        using (var probe = new QuantizedZooModel(model, baseConfig))
            layers = [.. probe.Layers.Select(l => l.Name)];

        var labels = test.LabelArray();
        var reference = Logits(model, test, cancel);
        double baseline = Accuracy(reference, labels);
        var rows = new List<LayerSensitivity>();
        foreach (string layer in layers)
        {
            long parameters = model.Graph.Nodes.First(n => n.Name == layer).Weight.numel();
            foreach (int bits in weightBits)
            {
                cancel.ThrowIfCancellationRequested();
                var config = baseConfig with
                {
                    Overrides = [.. layers.Where(l => l != layer).Select(l => new LayerOverride { Pattern = l, Float = true }),
                        new LayerOverride { Pattern = layer, WeightBits = bits }],
                };
                using var quantized = PostTrainingCalibrator.Calibrate(model, calibration, calibrationBatches, batchSize, config, seed, cancel);
                var logits = Logits(quantized, test, cancel);
                double accuracy = Accuracy(logits, labels);
                double signal = 0, noise = 0;
                for (int i = 0; i < logits.Length; i++)
                {
                    signal += (double)reference[i] * reference[i];
                    noise += (double)(reference[i] - logits[i]) * (reference[i] - logits[i]);
                }
                rows.Add(new(layer, $"int{bits} weights", parameters, accuracy, baseline - accuracy, SensitivityReport.Sqnr(signal, noise)));
            }
        }
        return new SensitivityReport(description, "test_accuracy", baseline,
            $"each conv/linear layer quantised alone (weights symmetric per output channel, output int8 calibrated by min/max on {calibrationBatches} " +
            $"batches of {batchSize} training samples), the rest and the input float; test accuracy; SQNR of the logits on the {test.Count:N0} test samples", rows);
    }

    /// <summary>Top-1 accuracy of row-major logits [samples, classes], the first largest logit as the prediction
    /// (as argmax picks it).</summary>
    private static double Accuracy(float[] logits, long[] labels)
    {
        int classes = logits.Length / labels.Length;
        long correct = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            var row = logits.AsSpan(i * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++)
            {
                if (row[c] > row[best])
                    best = c;
            }
            if (best == labels[i])
                correct++;
        }
        return (double)correct / labels.Length;
    }

    private static float[] Logits(nn.Module<Tensor, Tensor> model, TensorDataset data, CancellationToken cancel)
    {
        bool wasTraining = model.training;
        model.eval();
        var device = ComputeDevice.Of(model);
        var all = new List<float>();
        try
        {
            using var noGrad = no_grad();
            foreach (var indices in BatchSampler.Batches(data.Count, EvaluationBatch, shuffle: false, seed: 0))
            {
                cancel.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var (x, _) = data.Batch(indices, device);
                all.AddRange(model.call(x).cpu().contiguous().data<float>().ToArray());
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return [.. all];
    }
}
