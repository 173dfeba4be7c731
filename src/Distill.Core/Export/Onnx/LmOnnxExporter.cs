using Distill.Core.Export.Onnx.Proto;
using Distill.Core.Text;
using Google.Protobuf;

namespace Distill.Core.Export.Onnx;

/// <summary>Writes a <see cref="TransformerLm"/> as an ONNX file: input "tokens" int64 [batch, sequence], output
/// "logits" float32 [batch, sequence, vocab], both dimensions symbolic, sequence ≤ the model's context. No past
/// key/values: a generator feeds the last ≤ context tokens and reads the last position. With
/// <see cref="ExportOptions.KvCache"/> the file also takes past keys and values and returns the present ones
/// (<see cref="LmKvCacheLayout"/>). fp32, int8 weights for the large matmuls (<see cref="LmInt8Weights"/>, see
/// <see cref="LmGraphLowering"/>), or 4-bit group-quantised ones in ONNX Runtime's MatMulNBits (<see cref="LmInt4Export"/>).</summary>
public static class LmOnnxExporter
{
    public const string InputName = "tokens";
    public const string OutputName = "logits";
    public const string BatchDimension = "batch";
    public const string SequenceDimension = "sequence";

    /// <summary>LayerNormalization is an ONNX operator from opset 17.</summary>
    public const int MinOpset = 17;

    /// <param name="int8">Weight form when <see cref="ExportOptions.Precision"/> is Int8 (default: 8-bit per channel, float head).</param>
    /// <param name="int4">The quantised layers when the precision is Int4 (required then).</param>
    public static ExportedModelInfo Export(TransformerLm model, ExportOptions options, string path, LmInt8Weights? int8 = null, LmInt4Export? int4 = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Validate(options, int8, int4);
        var weights = options.Precision == ExportPrecision.Int8 ? int8 ?? new LmInt8Weights() : null;

        var graph = new OnnxGraph();
        string logits = LmGraphLowering.Lower(graph, model, weights, InputName, options.KvCache, int4);
        if (logits != OutputName)
        {
            throw new InvalidOperationException($"the LM graph ends in '{logits}', not '{OutputName}'");
        }
        graph.Proto.Input.Add(OnnxGraph.TensorValue(InputName, OnnxGraph.Int64, [(0, BatchDimension), (0, SequenceDimension)]));
        graph.Proto.Output.Add(OnnxGraph.TensorValue(OutputName, OnnxGraph.Float,
            [(0, BatchDimension), (0, SequenceDimension), (model.Options.VocabSize, null)]));
        if (options.KvCache)
        {
            var layout = LmKvCacheLayout.Of(model.Options);
            foreach (var (past, present) in layout.PastNames.Zip(layout.PresentNames))
            {
                graph.Proto.Input.Add(OnnxGraph.TensorValue(past, OnnxGraph.Float,
                    [(0, BatchDimension), (layout.Heads, null), (0, LmKvCacheLayout.PastSequenceDimension), (layout.HeadDim, null)]));
                graph.Proto.Output.Add(OnnxGraph.TensorValue(present, OnnxGraph.Float,
                    [(0, BatchDimension), (layout.Heads, null), (0, LmKvCacheLayout.TotalSequenceDimension), (layout.HeadDim, null)]));
            }
        }

        var proto = new ModelProto
        {
            IrVersion = options.OnnxIrVersion,
            ProducerName = OnnxExporter.ProducerName,
            ProducerVersion = VersionInfo.Distill,
            DocString = $"Distill {LmCheckpoint.Describe(model.Options)}, {(int4 is not null ? "int4 weights" : weights is null ? "fp32" : "int8 weights")}{(options.KvCache ? ", KV cache" : "")}",
            Graph = graph.Proto,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.OnnxOpset });
        if (int4 is not null)
        {
            proto.OpsetImport.Add(new OperatorSetIdProto { Domain = OnnxGraph.MicrosoftDomain, Version = 1 });
        }
        foreach (var (key, value) in options.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        AtomicFile.Write(path, stream => proto.WriteTo(stream));

        return new ExportedModelInfo(
            Path.GetFullPath(path),
            new FileInfo(path).Length,
            InputName,
            [-1, -1],
            "int64",
            "NT (batch, sequence of token ids)",
            OutputName,
            [-1, -1, model.Options.VocabSize],
            "float32",
            InputQuant: null,
            OutputQuant: null);
    }

    private static void Validate(ExportOptions options, LmInt8Weights? int8, LmInt4Export? int4)
    {
        if ((int4 is not null) != (options.Precision == ExportPrecision.Int4))
        {
            throw new ArgumentException("int4 layers go with an int4 export, and an int4 export needs them", nameof(int4));
        }
        if (options.Precision == ExportPrecision.Float16)
        {
            throw new InvalidInputException("language models export to ONNX as fp32, int8 or int4 weights, not fp16.");
        }
        ArgumentNullException.ThrowIfNull(options.Metadata);
        if (options.OnnxOpset < MinOpset || options.OnnxOpset > OnnxExporter.MaxOpset)
        {
            throw new InvalidInputException(
                $"ONNX opset {options.OnnxOpset} cannot hold a language model: use {MinOpset}..{OnnxExporter.MaxOpset} (LayerNormalization needs 17).");
        }
        if (options.OnnxIrVersion < 8 || options.OnnxIrVersion > 10)
        {
            throw new InvalidInputException($"ONNX IR version {options.OnnxIrVersion} does not go with opset {options.OnnxOpset}: use 8..10.");
        }
        if (int8 is not null && options.Precision != ExportPrecision.Int8)
        {
            throw new ArgumentException("int8 weights were given for a float export", nameof(int8));
        }
        if (int8 is { Bits: < 2 or > 8 })
        {
            throw new InvalidInputException($"int8 LM weights take 2..8 bits, got {int8.Bits}.");
        }
    }
}
