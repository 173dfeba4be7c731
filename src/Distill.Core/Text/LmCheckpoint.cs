using System.Text;
using System.Text.Json;
using Distill.Core.Training;

namespace Distill.Core.Text;

/// <summary>What an LM checkpoint says about the model it holds: its sizes (with context and vocabulary) and the
/// tokenizer it reads, so that it can be rebuilt, fed and decoded with nothing else.</summary>
public sealed record LmCheckpointHeader(string Kind, string? RunId, string Role, TransformerLmOptions Model, string Tokenizer);

/// <summary>A trained <see cref="TransformerLm"/> in a <see cref="CheckpointFile"/>: a JSON header
/// (<see cref="LmCheckpointHeader"/>), the weights ("model") and the tokenizer ("tokenizer", <see cref="TokenizerFile"/> JSON).</summary>
public static class LmCheckpoint
{
    public const string Kind = "lm-model";
    private const string ModelSection = "model";
    private const string TokenizerSection = "tokenizer";

    public static void Save(string path, TransformerLm model, ITokenizer tokenizer, string role, string? runId)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var header = new LmCheckpointHeader(Kind, runId, role, model.Options, tokenizer.Kind);
        var sections = new Dictionary<string, byte[]>
        {
            [ModelSection] = ModelCheckpoint.ModelBytes(model),
            [TokenizerSection] = Encoding.UTF8.GetBytes(TokenizerFile.ToJson(tokenizer)),
        };
        CheckpointFile.Write(path, JsonSerializer.Serialize(header, CheckpointFile.Json), sections);
    }

    /// <summary>Whether <paramref name="path"/> is a Distill checkpoint holding a language model (false for other
    /// checkpoints; an unreadable or damaged file is an <see cref="InvalidInputException"/>).</summary>
    public static bool IsLanguageModel(string path) => ReadHeader(path, CheckpointFile.Read(path).HeaderJson).Kind == Kind;

    /// <summary>Rebuilds the model, loads its weights and reads its tokenizer.</summary>
    public static (TransformerLm Model, ITokenizer Tokenizer, LmCheckpointHeader Header) Load(string path)
    {
        var (header, weights, tokenizer) = Read(path);
        TransformerLm model;
        try
        {
            model = new TransformerLm(header.Model);
        }
        catch (InvalidInputException e)
        {
            throw new InvalidInputException($"{path}: {e.Message}", e);
        }
        try
        {
            ModelCheckpoint.LoadWeights(path, model, weights);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (model, tokenizer, header);
    }

    /// <summary>Loads the checkpoint's weights into a model the caller built with the same sizes.</summary>
    public static ITokenizer LoadInto(string path, TransformerLm model, string role)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (header, weights, tokenizer) = Read(path);
        if (header.Model with { Dropout = model.Options.Dropout } != model.Options)
        {
            throw new InvalidInputException(
                $"{path}: checkpoint holds a {Describe(header.Model)}, but the {role} is a {Describe(model.Options)}");
        }
        ModelCheckpoint.LoadWeights(path, model, weights);
        return tokenizer;
    }

    /// <summary>The sizes and tokenizer of the checkpoint, without building the model.</summary>
    public static (TransformerLmOptions Model, ITokenizer Tokenizer) Describe(string path)
    {
        var (header, _, tokenizer) = Read(path);
        return (header.Model, tokenizer);
    }

    public static string Describe(TransformerLmOptions o) =>
        $"transformer-lm of {o.Layers} layers, d_model {o.DModel}, {o.Heads} heads, d_ff {o.FeedForward}, context {o.Context}, vocabulary {o.VocabSize}";

    private static (LmCheckpointHeader Header, byte[] Weights, ITokenizer Tokenizer) Read(string path)
    {
        var (json, sections) = CheckpointFile.Read(path);
        var header = ReadHeader(path, json);
        if (header.Kind != Kind)
        {
            throw new InvalidInputException(
                $"{path}: not a language-model checkpoint (it is a '{header.Kind}' checkpoint); a transformer-lm run's models/teacher.ckpt or models/student.ckpt is needed");
        }
        if (header.Model is null || !sections.TryGetValue(ModelSection, out var weights) || !sections.TryGetValue(TokenizerSection, out var tokenizerBytes))
        {
            throw new InvalidInputException($"{path}: language-model checkpoint lacks its sizes, weights or tokenizer");
        }
        var tokenizer = TokenizerFile.Parse(Encoding.UTF8.GetString(tokenizerBytes), path);
        if (tokenizer.VocabSize != header.Model.VocabSize)
        {
            throw new InvalidInputException(
                $"{path}: the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary has {header.Model.VocabSize}");
        }
        return (header, weights, tokenizer);
    }

    private sealed record KindOnly(string? Kind);

    private static LmCheckpointHeader ReadHeader(string path, string json)
    {
        try
        {
            var kind = JsonSerializer.Deserialize<KindOnly>(json, CheckpointFile.Json)?.Kind;
            if (kind != Kind)
            {
                return new LmCheckpointHeader(kind ?? "unknown", null, "", null!, "");
            }
            return JsonSerializer.Deserialize<LmCheckpointHeader>(json, CheckpointFile.Json)
                ?? throw new InvalidInputException($"{path}: checkpoint header is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: checkpoint header is not valid: {e.Message}", e);
        }
    }
}
