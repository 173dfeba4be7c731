using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Training;

namespace Distill.Core.Quantization;

/// <summary>
/// The quantised view of a run's student once a stage has turned quantisation on: trained (QAT) or
/// calibrated (PTQ) in that stage, kept for every later stage, saved in every checkpoint and in the final
/// model file. Owned by the run executor; the float student stays owned by its owner.
/// </summary>
public sealed class StudentQuantization : IDisposable
{
    public QuantizedZooModel? Quantized { get; private set; }

    /// <summary>Checks every quantize section against the student before the run opens: layer patterns
    /// that match nothing, a second quantize section, a stage that cannot run on the fake-quant model.</summary>
    public static void Validate(IEnumerable<StageOptions> stages, ZooModel student, bool alreadyQuantized)
    {
        string? quantizedBy = alreadyQuantized ? "the student checkpoint" : null;
        foreach (var stage in stages)
        {
            if (stage.Quantize is { } quantize)
            {
                if (quantizedBy is not null)
                    throw new InvalidInputException($"{At(quantize.Where)}stage '{stage.Name}' quantizes a student that {quantizedBy} already quantized; quantisation stays on once a stage turns it on.");
                using var probe = new QuantizedZooModel(student, quantize.Config);
                quantizedBy = $"stage quantize of '{stage.Name}'";
            }
            if (quantizedBy is null)
                continue;
            if (stage.Loss.Needing(LossNeeds.StudentInternals) is [var term, ..])
                throw new InvalidInputException($"stage '{stage.Name}': a {term} loss needs the student's intermediate outputs, which the fake-quant student (quantised by {quantizedBy}) does not expose.");
            if (stage.Prune is { Shrink: true })
                throw new InvalidInputException($"{At(stage.Prune.Where)}stage '{stage.Name}' cannot shrink a quantised student (quantised by {quantizedBy}): its qparams are per channel; shrink before quantising.");
        }
    }

    /// <summary>What quantize.auto chose when this run's quantisation started (null without auto, or once restored
    /// from a checkpoint, whose quantisation already holds the choice).</summary>
    public MixedPrecisionChoice? AutoChoice { get; private set; }

    /// <summary>Turns quantisation on for a stage: a QAT view of the student, or (no epochs) a view calibrated
    /// on the first batches of a seeded shuffle of the training split. With quantize.auto the layers it chooses
    /// (measured on <paramref name="validation"/>) stay in float.</summary>
    public void Start(StageOptions stage, ZooModel student, TensorDataset train, TensorDataset validation, int seed, CancellationToken cancel = default)
    {
        var options = stage.Quantize ?? throw new ArgumentException($"stage '{stage.Name}' has no quantize section");
        if (Quantized is not null)
            throw new InvalidInputException($"{At(options.Where)}the student is already quantised.");
        var config = options.Config;
        if (options.Auto is { } target)
        {
            AutoChoice = MixedPrecision.Choose(student, config, target, train, validation, options.CalibrationBatches, stage.BatchSize, seed, cancel);
            config = config with { Overrides = [.. config.Overrides, .. AutoChoice.FloatLayers.Select(l => new LayerOverride { Pattern = l, Float = true, Where = target.Where })] };
        }
        Quantized = stage.Epochs == 0
            ? PostTrainingCalibrator.Calibrate(student, train, options.CalibrationBatches, stage.BatchSize, config, seed, cancel)
            : new QuantizedZooModel(student, config, QuantMode.Qat);
    }

    /// <summary>Restores the quantisation a checkpoint holds (none when it has no quantization section).</summary>
    public void Restore(string path, IReadOnlyDictionary<string, byte[]> sections, ZooModel student)
    {
        var state = QuantState.Read(path, sections);
        Quantized?.Dispose();
        Quantized = state?.Apply(student, path, QuantMode.Qat);
    }

    /// <summary>Checkpoint sections that carry the quantisation (empty when it is off).</summary>
    public Dictionary<string, byte[]> Sections() =>
        Quantized is null ? [] : new Dictionary<string, byte[]> { [QuantState.Section] = QuantState.Of(Quantized).ToBytes() };

    public IReadOnlyList<IStepHook> Hooks() => Quantized is null ? [] : [new QuantizationHook(Quantized)];

    public void Dispose() => Quantized?.Dispose();

    private static string At(string? where) => where is null ? "" : where + ": ";
}
