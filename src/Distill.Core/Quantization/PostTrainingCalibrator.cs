using System.Diagnostics;
using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Quantization;

/// <summary>One row of a post-training quantisation comparison.</summary>
/// <param name="Observer">The activation observer used.</param>
/// <param name="CalibrationSamples">Samples run through the model to calibrate.</param>
/// <param name="CalibrationTime">Wall time of the calibration passes and the qparam computation.</param>
/// <param name="Parameters">The frozen qparams, for export.</param>
public sealed record CalibrationResult(
    ObserverKind Observer,
    double FloatAccuracy,
    double QuantizedAccuracy,
    long CalibrationSamples,
    TimeSpan CalibrationTime,
    IReadOnlyList<QuantTensorParams> Parameters);

/// <summary>Post-training quantisation: runs K batches of calibration data through a
/// <see cref="QuantizedZooModel"/> in calibrate mode (eval mode, no gradients), freezes the qparams,
/// and measures the quantised model's accuracy.</summary>
public static class PostTrainingCalibrator
{
    /// <summary>Calibrates a new quantised view of <paramref name="model"/> on the first
    /// <paramref name="batches"/> batches of a seeded shuffle of <paramref name="calibration"/> (fed on the model's
    /// device) and returns it frozen, in <see cref="QuantMode.Quantize"/>.</summary>
    /// <param name="cancel">Checked before every batch.</param>
    public static QuantizedZooModel Calibrate(ZooModel model, TensorDataset calibration, int batches, int batchSize, QuantConfig config, int seed = 0,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(config);
        CheckShape(model, calibration, "calibration");
        if (batches < 1)
        {
            throw new InvalidInputException($"calibration needs at least 1 batch, got {batches}.");
        }
        if (batchSize < 1)
        {
            throw new InvalidInputException($"calibration batch size must be at least 1, got {batchSize}.");
        }
        if (calibration.Count == 0)
        {
            throw new InvalidInputException("the calibration data is empty.");
        }
        var quantized = new QuantizedZooModel(model, config, QuantMode.Calibrate);
        var device = ComputeDevice.Of(model);
        bool wasTraining = model.training;
        quantized.eval();
        try
        {
            using var noGrad = no_grad();
            foreach (var indices in BatchSampler.Batches(calibration.Count, batchSize, shuffle: true, seed).Take(batches))
            {
                cancel.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var (x, _) = calibration.Batch(indices, device);
                quantized.call(x);
            }
            quantized.Freeze();
        }
        catch
        {
            quantized.train(wasTraining);
            quantized.Dispose();
            throw;
        }
        quantized.train(wasTraining);
        return quantized;
    }

    /// <summary>For each observer kind (used for the activations; weights keep
    /// <see cref="QuantConfig.WeightObserver"/>): calibrate, then compare float and quantised accuracy on
    /// <paramref name="evaluation"/>.</summary>
    public static IReadOnlyList<CalibrationResult> Compare(
        ZooModel model,
        TensorDataset calibration,
        TensorDataset evaluation,
        int batches,
        int batchSize,
        QuantConfig config,
        IReadOnlyList<ObserverKind> observers,
        int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(evaluation);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(observers);
        CheckShape(model, evaluation, "evaluation");
        double floatAccuracy = Evaluator.Evaluate(model, evaluation).Accuracy;
        var results = new List<CalibrationResult>();
        foreach (var observer in observers)
        {
            var clock = Stopwatch.StartNew();
            using var quantized = Calibrate(model, calibration, batches, batchSize, config with { ActivationObserver = observer }, seed);
            clock.Stop();
            long samples = Math.Min(calibration.Count, (long)batches * batchSize);
            results.Add(new CalibrationResult(observer, floatAccuracy, Evaluator.Evaluate(quantized, evaluation).Accuracy, samples, clock.Elapsed, quantized.QuantParameters()));
        }
        return results;
    }

    private static void CheckShape(ZooModel model, TensorDataset data, string role)
    {
        if (!data.SampleShape.SequenceEqual(model.InputShape))
        {
            throw new InvalidInputException(
                $"the {role} data has samples of shape [{string.Join(",", data.SampleShape)}] but the model takes [{string.Join(",", model.InputShape)}].");
        }
    }
}
