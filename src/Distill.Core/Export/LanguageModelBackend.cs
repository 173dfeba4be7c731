using System.Text.Json.Nodes;
using Distill.Core.Export.Onnx;
using Distill.Core.Quantization;
using Distill.Core.Text;

namespace Distill.Core.Export;

/// <summary>How an <see cref="ExportBackend"/> writes and runs language models (<see cref="ExportBackend.LanguageModels"/>).</summary>
public interface ILanguageModelBackend
{
    /// <summary>The precisions it writes a language model in.</summary>
    IReadOnlyList<ExportPrecision> Precisions { get; }

    /// <summary>The names of the file's input, its dimensions and its output, for the model card.</summary>
    LmSignature Signature { get; }

    /// <summary>The model card's <c>kv_cache</c> section (the past/present tensors of the KV-cache form) of a model with
    /// <paramref name="options"/>; null when the format has no such form.</summary>
    JsonObject? KvCache(TransformerLmOptions options);

    /// <summary>The int8 weight form for a profile's weight scheme.</summary>
    /// <param name="where">The profile, for the message.</param>
    /// <exception cref="InvalidInputException">The format cannot compute with such weights.</exception>
    LmInt8Weights Int8Weights(QuantScheme weights, string where);

    /// <summary>The model card's <c>quantization</c> section of an int8 file.</summary>
    JsonObject QuantizationCard(LmInt8Weights int8);

    /// <summary>The model card's <c>quantization</c> section of an int4 file; <paramref name="calibration"/> says what
    /// GPTQ was calibrated on.</summary>
    JsonObject QuantizationCard(LmInt4Weights int4, string calibration);

    /// <summary>Writes <paramref name="path"/> atomically; <paramref name="int8"/> is the weight form of an int8 file,
    /// <paramref name="int4"/> the quantised layers of an int4 one.</summary>
    ExportedModelInfo Export(TransformerLm model, ExportOptions options, string path, LmInt8Weights? int8, LmInt4Export? int4 = null);

    /// <summary>Loads a written file in the runtime with <paramref name="threads"/> intra-op threads.</summary>
    /// <exception cref="InvalidInputException">Not a language-model file of this format.</exception>
    ILanguageModelFile Open(string path, int threads);
}

/// <param name="Input">The token ids' input.</param>
/// <param name="BatchDimension">The name of the input's first (dynamic) dimension.</param>
/// <param name="SequenceDimension">The name of its second (dynamic) dimension.</param>
/// <param name="Output">The logits' output.</param>
public sealed record LmSignature(string Input, string BatchDimension, string SequenceDimension, string Output);

/// <summary>A language-model file loaded in its runtime; its context, vocabulary and tokenizer come from the model
/// card in the file.</summary>
public interface ILanguageModelFile : INextTokenModel, IDisposable
{
    string Path { get; }

    ITokenizer Tokenizer { get; }

    /// <summary>The model card stored in the file.</summary>
    JsonObject Card { get; }

    /// <summary>Cross-entropy and bits per byte on <paramref name="windows"/> (batches of <paramref name="batchSize"/>)
    /// and, with a <paramref name="reference"/>, how far the file's logits are from it.</summary>
    LmFileComparison Compare(TokenWindows windows, ITokenizer tokenizer, int batchSize, TransformerLm? reference = null);
}
