using System.Text.Json.Nodes;
using Distill.Core.Text;

namespace Distill.Core.Export.Onnx;

/// <summary>The past/present key-value tensors of a KV-cache language-model ONNX file: per layer i the inputs
/// "past_key_values.{i}.key" and "past_key_values.{i}.value" and the outputs "present.{i}.key" and "present.{i}.value",
/// all float32 [batch, heads, length, head_dim] (keys not transposed). The past length is read from the past tensors'
/// shape, so there is no position input: token j of the input gets position past_sequence + j.</summary>
public sealed record LmKvCacheLayout(int Layers, int Heads, int HeadDim)
{
    public const string PastSequenceDimension = "past_sequence";
    public const string TotalSequenceDimension = "total_sequence";

    public static LmKvCacheLayout Of(TransformerLmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new(options.Layers, options.Heads, options.DModel / options.Heads);
    }

    public static string PastKey(int layer) => $"past_key_values.{layer}.key";

    public static string PastValue(int layer) => $"past_key_values.{layer}.value";

    public static string PresentKey(int layer) => $"present.{layer}.key";

    public static string PresentValue(int layer) => $"present.{layer}.value";

    /// <summary>Past inputs in the order the file declares them: layer 0 key, layer 0 value, layer 1 key, …</summary>
    public IReadOnlyList<string> PastNames => [.. Enumerable.Range(0, Layers).SelectMany(i => new[] { PastKey(i), PastValue(i) })];

    /// <summary>Present outputs, in the order of <see cref="PastNames"/>.</summary>
    public IReadOnlyList<string> PresentNames => [.. Enumerable.Range(0, Layers).SelectMany(i => new[] { PresentKey(i), PresentValue(i) })];

    /// <summary>The model card's <c>kv_cache</c> section.</summary>
    public JsonObject Card(int context) => new()
    {
        ["past_inputs"] = $"past_key_values.{{i}}.key and past_key_values.{{i}}.value for layers i = 0..{Layers - 1}",
        ["present_outputs"] = $"present.{{i}}.key and present.{{i}}.value for layers i = 0..{Layers - 1}",
        ["shape"] = new JsonArray(-1, Heads, -1, HeadDim),
        ["dims"] = $"[batch, heads {Heads}, {PastSequenceDimension} (present: {TotalSequenceDimension} = {PastSequenceDimension} + sequence), head_dim {HeadDim}]",
        ["dtype"] = "float32",
        ["positions"] = $"no position input: token j of 'tokens' gets position {PastSequenceDimension} + j, read from the past tensors' shape; {PastSequenceDimension} + sequence <= {context}",
        ["first_pass"] = $"past tensors of shape [batch, {Heads}, 0, {HeadDim}] (empty): the prompt, as the full-recompute file computes it",
        ["next_passes"] = "feed each present.{i}.* back as past_key_values.{i}.* with the next token(s)",
    };
}
