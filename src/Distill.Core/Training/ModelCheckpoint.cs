using System.Text.Json;
using Distill.Core.Data;
using Distill.Core.Models;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>What a model checkpoint says about the model it holds: enough to rebuild it and feed it.</summary>
/// <param name="Reading">How its training data was read from files; null in checkpoints written before it was recorded.</param>
public sealed record ModelDescriptor(ModelSpec Spec, long[] InputShape, int NumClasses, Normalization? Normalization, DataReading? Reading = null)
{
    /// <summary>"a cnn with channels [4, 8] hidden [32] on input [1, 28, 28] with 10 classes".</summary>
    public string Describe() =>
        $"{Architectures.Zoo(Spec.Arch).Describe(Spec)} on input [{string.Join(", ", InputShape)}] with {NumClasses} classes";

    public bool SameArchitecture(ModelDescriptor other) =>
        JsonSerializer.Serialize(Spec, CheckpointFile.Json) == JsonSerializer.Serialize(other.Spec, CheckpointFile.Json)
        && InputShape.SequenceEqual(other.InputShape) && NumClasses == other.NumClasses;

    public static ModelDescriptor Of(ZooModel model, Normalization? normalization, DataReading? reading = null) =>
        new(model.Spec, model.InputShape, model.NumClasses, normalization, reading);
}

/// <summary>One trained model in a checkpoint file: the final teacher or student of a run, a teacher to load.</summary>
public static class ModelCheckpoint
{
    private const string Kind = "model";
    /// <summary>The section of the weights.</summary>
    public const string ModelSection = "model";

    private sealed record Header(string Kind, string? RunId, string Role, ModelDescriptor Model);

    /// <param name="extraSections">Further named sections (pruning masks, …) stored beside the weights.</param>
    public static void Save(string path, ZooModel model, Normalization? normalization, string role, string? runId,
        IReadOnlyDictionary<string, byte[]>? extraSections = null, DataReading? reading = null)
    {
        var header = new Header(Kind, runId, role, ModelDescriptor.Of(model, normalization, reading));
        var sections = new Dictionary<string, byte[]> { [ModelSection] = ModelBytes(model) };
        foreach (var (name, bytes) in extraSections ?? new Dictionary<string, byte[]>())
            sections[name] = bytes;
        CheckpointFile.Write(path, JsonSerializer.Serialize(header, CheckpointFile.Json), sections);
    }

    /// <summary>Rebuilds the model the checkpoint describes and loads its weights.</summary>
    public static (ZooModel Model, ModelDescriptor Descriptor) Load(string path)
    {
        var (descriptor, weights) = ReadModel(path);
        var model = ModelZoo.Build(descriptor.Spec, descriptor.InputShape, descriptor.NumClasses);
        LoadWeights(path, model, weights);
        return (model, descriptor);
    }

    /// <summary>Loads the checkpoint into a model the caller built; the architectures must match.</summary>
    public static void LoadInto(string path, ZooModel model, string role)
    {
        var (descriptor, weights) = ReadModel(path);
        var expected = ModelDescriptor.Of(model, null);
        if (!descriptor.SameArchitecture(expected))
            throw new InvalidInputException(
                $"{path}: checkpoint holds {descriptor.Describe()}, but the {role} is {expected.Describe()}");
        LoadWeights(path, model, weights);
    }

    /// <summary>The module's weights as a checkpoint section (<see cref="WeightCodec"/>: zeros cost next to nothing).</summary>
    internal static byte[] ModelBytes(nn.Module model) => WeightCodec.Encode(model);

    internal static void LoadWeights(string path, nn.Module model, byte[] weights) => WeightCodec.Load(path, model, weights);

    private static (ModelDescriptor Descriptor, byte[] Weights) ReadModel(string path)
    {
        var (json, sections) = CheckpointFile.Read(path);
        Header? header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(json, CheckpointFile.Json);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: checkpoint header is not valid: {e.Message}", e);
        }
        if (header?.Model is null)
            throw new InvalidInputException($"{path}: checkpoint header names no model");
        if (header.Kind != Kind)
            throw new InvalidInputException($"{path}: this is a '{header.Kind}' checkpoint, not a model checkpoint (use the run's models/*.ckpt)");
        if (!sections.TryGetValue(ModelSection, out var weights))
            throw new InvalidInputException($"{path}: checkpoint has no model weights");
        return (header.Model, weights);
    }
}
