using Distill.Core.Models;
using Distill.Core.Quantization;
using static TorchSharp.torch;

namespace Distill.Core.Export;

/// <summary>Int4: weight-only 4-bit groups, for language models (ONNX Runtime's MatMulNBits).</summary>
public enum ExportPrecision { Float32, Float16, Int8, Int4 }

/// <summary>What an exporter writes (its format is the exporter's: <see cref="ExportBackend.ClassifierExporter"/>). Integer
/// schemes are not here: for <see cref="ExportPrecision.Int8"/> they come from the frozen <see cref="QuantizedZooModel"/>
/// passed with the model.</summary>
public sealed record ExportOptions
{
    public ExportPrecision Precision { get; init; } = ExportPrecision.Float32;
    /// <summary>ONNX fp16: keep float32 input and output (Cast at the edges).</summary>
    public bool Float32Io { get; init; } = true;
    /// <summary>TFLite int8: int8 input and output tensors instead of float32 with QUANTIZE/DEQUANTIZE at the edges.</summary>
    public bool IntegerIo { get; init; }
    /// <summary>Weights-only int8 formats (Core ML): the weights' scheme (symmetry, per channel or per tensor).</summary>
    public QuantScheme Int8Weights { get; init; } = QuantScheme.WeightInt8PerChannel;
    public int OnnxOpset { get; init; } = 17;
    public int OnnxIrVersion { get; init; } = 8;
    /// <summary>Key/value metadata written into the file (ONNX metadata_props, TFLite metadata buffers),
    /// e.g. the model card JSON under "distill.model_card".</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>ONNX float32/float16: add the zoo model's taps (block{i}, features, hidden{i}) as further graph
    /// outputs named like the taps, after "logits", so that the file can serve as a teacher for hint losses.</summary>
    public bool ExposeTaps { get; init; }
    /// <summary>ONNX language models: past key/values in, present ones out (Onnx.LmKvCacheLayout), so that generation
    /// runs one position per new token; false writes the full-recompute file.</summary>
    public bool KvCache { get; init; }
}

/// <summary>What an exported file takes and gives, as the model card describes it.</summary>
/// <param name="InputShape">With the batch dimension first; -1 where the batch is dynamic.</param>
/// <param name="InputLayout">"NCHW", "NHWC" or "NC".</param>
/// <param name="InputQuant">Scale/zero point of an integer input, null for a float input.</param>
public sealed record ExportedModelInfo(
    string Path,
    long SizeBytes,
    string InputName,
    long[] InputShape,
    string InputDType,
    string InputLayout,
    string OutputName,
    long[] OutputShape,
    string OutputDType,
    QParams? InputQuant,
    QParams? OutputQuant);

/// <summary>Writes classifiers in one format (<see cref="ExportBackend.ClassifierExporter"/>).</summary>
public interface IModelExporter
{
    /// <summary>Writes <paramref name="path"/> atomically (temporary file, then rename). For
    /// <see cref="ExportPrecision.Int8"/>, <paramref name="quantized"/> is a frozen wrapper of
    /// <paramref name="model"/> whose QuantParameters() and EffectiveWeights() define the integer model;
    /// otherwise null. Throws <see cref="InvalidInputException"/> naming the layer that cannot be lowered.</summary>
    ExportedModelInfo Export(ZooModel model, QuantizedZooModel? quantized, ExportOptions options, string path);
}

/// <summary>An exported file loaded in a real runtime.</summary>
public interface IExportedModelRunner : IDisposable
{
    /// <summary>Runs float inputs laid out as the zoo model takes them ([N, ...ZooModel.InputShape], NCHW)
    /// and returns float logits [N, classes]. Layout changes and the quantisation of integer inputs and
    /// outputs happen inside.</summary>
    /// <param name="cancel">Checked between batches (or ends the runtime's process).</param>
    Tensor Run(Tensor input, CancellationToken cancel = default);
}
