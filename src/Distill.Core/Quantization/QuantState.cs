using System.Text;
using System.Text.Json;
using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Training;

namespace Distill.Core.Quantization;

/// <summary>Everything needed to rebuild a quantised model from its float weights: the configuration,
/// the frozen qparams of every tensor (LSQ's learned scales included), whether batch norm was frozen
/// and how many QAT steps ran. Saved as the "quantization" section of training and model checkpoints.</summary>
/// <param name="LearnedLogScales">LSQ's learned log step sizes by tensor name, so that a restored model
/// computes bit for bit what the saved one did (Tensors hold their exponentials, for exporters).</param>
public sealed record QuantState(QuantConfig Config, IReadOnlyList<QuantTensorParams> Tensors, bool BatchNormFrozen, long QatSteps,
    IReadOnlyDictionary<string, float[]>? LearnedLogScales = null)
{
    public const string Section = "quantization";

    public static QuantState Of(QuantizedZooModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var tensors = model.QuantParameters();
        if (tensors.FirstOrDefault(t => !t.Params.Scale.All(float.IsFinite)) is { } broken)
            throw new RunFailedException($"the scale of '{broken.Name}' is not finite: quantisation-aware training diverged (try a lower learning rate)");
        var learned = model.LearnedLogScales();
        return new QuantState(model.Config, tensors, model.BatchNormFrozen, model.QatSteps, learned.Count == 0 ? null : learned);
    }

    public byte[] ToBytes() => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(this, CheckpointFile.Json));

    /// <summary>Reads the section of <paramref name="path"/>; null when the checkpoint has none.</summary>
    public static QuantState? Read(string path, IReadOnlyDictionary<string, byte[]> sections)
    {
        ArgumentNullException.ThrowIfNull(sections);
        if (!sections.TryGetValue(Section, out var bytes))
            return null;
        try
        {
            var state = JsonSerializer.Deserialize<QuantState>(bytes, CheckpointFile.Json);
            if (state?.Config is null || state.Tensors is null)
                throw new InvalidInputException($"{path}: the quantization section is empty.");
            state.Config.Validate();
            return state;
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: the quantization section is not valid: {e.Message}", e);
        }
    }

    /// <summary>A quantised view of <paramref name="model"/> with this state: fake-quantises with the saved
    /// qparams, in <paramref name="mode"/> (Quantize, or Qat to train on).</summary>
    public QuantizedZooModel Apply(ZooModel model, string source, QuantMode mode = QuantMode.Quantize)
    {
        var quantized = new QuantizedZooModel(model, Config, mode);
        try
        {
            quantized.Restore(Tensors, BatchNormFrozen, QatSteps, source, LearnedLogScales);
            return quantized;
        }
        catch
        {
            quantized.Dispose();
            throw;
        }
    }

    /// <summary>Saves <paramref name="model"/> as a model checkpoint with <paramref name="quantized"/>'s qparams in its
    /// quantization section, as a calibration stage leaves a run's student; the other sections of the checkpoint it
    /// was loaded from (<paramref name="sourceSections"/>: pruning masks) go along.</summary>
    public static void SaveModel(string path, ZooModel model, Normalization? normalization, QuantizedZooModel quantized,
        IReadOnlyDictionary<string, byte[]> sourceSections)
    {
        ArgumentNullException.ThrowIfNull(sourceSections);
        var sections = sourceSections.Where(s => s.Key is not (ModelCheckpoint.ModelSection or Section)).ToDictionary();
        sections[Section] = Of(quantized).ToBytes();
        ModelCheckpoint.Save(path, model, normalization, "student", runId: null, sections);
    }

    /// <summary>Loads a model checkpoint and, when it holds a quantisation section, the quantised view of it.</summary>
    public static (ZooModel Model, ModelDescriptor Descriptor, QuantizedZooModel? Quantized) LoadModel(string path)
    {
        var (model, descriptor) = ModelCheckpoint.Load(path);
        try
        {
            var (_, sections) = CheckpointFile.Read(path);
            var state = Read(path, sections);
            return (model, descriptor, state?.Apply(model, path));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
