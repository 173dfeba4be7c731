using System.Text;
using Google.FlatBuffers;
using static Distill.Core.Export.Tflite.TfliteSchema;

namespace Distill.Core.Export.Tflite;

/// <summary>Serialises a <see cref="TfliteGraph"/> as a one-subgraph TFLite model (FlatBuffers, "TFL3").
/// FlatBuffers are built back to front, so children (vectors, strings, tables) are written before the
/// tables that point at them.</summary>
internal static class TfliteWriter
{
    public static byte[] Serialize(TfliteGraph graph, string description, IReadOnlyDictionary<string, string> metadata)
    {
        var builder = new FlatBufferBuilder(1 << 16);

        var buffers = graph.Buffers.ToList();
        var metadataEntries = new List<(string Name, int Buffer)>();
        foreach (var (name, value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            buffers.Add(Encoding.UTF8.GetBytes(value));
            metadataEntries.Add((name, buffers.Count - 1));
        }

        // Operator codes: one per distinct (operator, version), in order of first use.
        var codes = new List<(BuiltinOperator Op, int Version)>();
        foreach (var op in graph.Operators)
        {
            if (!codes.Contains((op.Op, op.Version)))
            {
                codes.Add((op.Op, op.Version));
            }
        }

        var tensorOffsets = graph.Tensors.Select(t => WriteTensor(builder, t)).ToArray();
        var operatorOffsets = graph.Operators.Select(op => WriteOperator(builder, op, codes.IndexOf((op.Op, op.Version)))).ToArray();
        var subgraph = WriteSubgraph(builder, graph, tensorOffsets, operatorOffsets);
        var codeOffsets = codes.Select(c => WriteOperatorCode(builder, c.Op, c.Version)).ToArray();
        var bufferOffsets = buffers.Select(b => WriteBuffer(builder, b)).ToArray();
        var metadataOffsets = metadataEntries.Select(m => WriteMetadata(builder, m.Name, m.Buffer)).ToArray();

        var codesVector = OffsetVector(builder, codeOffsets);
        var subgraphsVector = OffsetVector(builder, [subgraph]);
        var descriptionString = builder.CreateString(description);
        var buffersVector = OffsetVector(builder, bufferOffsets);
        var metadataVector = OffsetVector(builder, metadataOffsets);

        builder.StartTable(ModelFields.Count);
        builder.AddUint(ModelFields.Version, TfliteSchema.Version, 0);
        builder.AddOffset(ModelFields.OperatorCodes, codesVector.Value, 0);
        builder.AddOffset(ModelFields.Subgraphs, subgraphsVector.Value, 0);
        builder.AddOffset(ModelFields.Description, descriptionString.Value, 0);
        builder.AddOffset(ModelFields.Buffers, buffersVector.Value, 0);
        builder.AddOffset(ModelFields.Metadata, metadataVector.Value, 0);
        int model = builder.EndTable();
        builder.Finish(model, FileIdentifier);
        return builder.SizedByteArray();
    }

    public static VectorOffset IntVector(FlatBufferBuilder builder, int[] values)
    {
        builder.StartVector(sizeof(int), values.Length, sizeof(int));
        for (int i = values.Length - 1; i >= 0; i--)
        {
            builder.AddInt(values[i]);
        }
        return builder.EndVector();
    }

    private static VectorOffset OffsetVector(FlatBufferBuilder builder, int[] offsets)
    {
        builder.StartVector(sizeof(int), offsets.Length, sizeof(int));
        for (int i = offsets.Length - 1; i >= 0; i--)
        {
            builder.AddOffset(offsets[i]);
        }
        return builder.EndVector();
    }

    private static int WriteTensor(FlatBufferBuilder builder, TfliteTensor tensor)
    {
        var shape = IntVector(builder, tensor.Shape);
        var name = builder.CreateString(tensor.Name);
        int quantization = tensor.Quant is null ? 0 : WriteQuantization(builder, tensor.Quant);
        builder.StartTable(TensorFields.Count);
        builder.AddOffset(TensorFields.Shape, shape.Value, 0);
        builder.AddSbyte(TensorFields.Type, (sbyte)tensor.Type, -1);
        builder.AddUint(TensorFields.Buffer, (uint)tensor.Buffer, 0);
        builder.AddOffset(TensorFields.Name, name.Value, 0);
        if (quantization != 0)
        {
            builder.AddOffset(TensorFields.Quantization, quantization, 0);
        }
        return builder.EndTable();
    }

    private static int WriteQuantization(FlatBufferBuilder builder, TfliteQuant quant)
    {
        builder.StartVector(sizeof(float), quant.Scale.Length, sizeof(float));
        for (int i = quant.Scale.Length - 1; i >= 0; i--)
        {
            builder.AddFloat(quant.Scale[i]);
        }
        var scale = builder.EndVector();
        builder.StartVector(sizeof(long), quant.ZeroPoint.Length, sizeof(long));
        for (int i = quant.ZeroPoint.Length - 1; i >= 0; i--)
        {
            builder.AddLong(quant.ZeroPoint[i]);
        }
        var zeroPoint = builder.EndVector();
        builder.StartTable(QuantizationParametersFields.Count);
        builder.AddOffset(QuantizationParametersFields.Scale, scale.Value, 0);
        builder.AddOffset(QuantizationParametersFields.ZeroPoint, zeroPoint.Value, 0);
        builder.AddInt(QuantizationParametersFields.QuantizedDimension, quant.Dimension, 0);
        return builder.EndTable();
    }

    private static int WriteOperator(FlatBufferBuilder builder, TfliteOperator op, int opcodeIndex)
    {
        var inputs = IntVector(builder, op.Inputs);
        var outputs = IntVector(builder, op.Outputs);
        int options = op.Options?.Write(builder) ?? 0;
        builder.StartTable(OperatorFields.Count);
        builder.AddUint(OperatorFields.OpcodeIndex, (uint)opcodeIndex, uint.MaxValue);
        builder.AddOffset(OperatorFields.Inputs, inputs.Value, 0);
        builder.AddOffset(OperatorFields.Outputs, outputs.Value, 0);
        if (op.Options is not null)
        {
            builder.AddByte(OperatorFields.BuiltinOptionsType, (byte)op.Options.Type, 0);
            builder.AddOffset(OperatorFields.BuiltinOptions, options, 0);
        }
        return builder.EndTable();
    }

    private static int WriteSubgraph(FlatBufferBuilder builder, TfliteGraph graph, int[] tensors, int[] operators)
    {
        var tensorsVector = OffsetVector(builder, tensors);
        var inputs = IntVector(builder, [.. graph.Inputs]);
        var outputs = IntVector(builder, [.. graph.Outputs]);
        var operatorsVector = OffsetVector(builder, operators);
        var name = builder.CreateString("main");
        builder.StartTable(SubGraphFields.Count);
        builder.AddOffset(SubGraphFields.Tensors, tensorsVector.Value, 0);
        builder.AddOffset(SubGraphFields.Inputs, inputs.Value, 0);
        builder.AddOffset(SubGraphFields.Outputs, outputs.Value, 0);
        builder.AddOffset(SubGraphFields.Operators, operatorsVector.Value, 0);
        builder.AddOffset(SubGraphFields.Name, name.Value, 0);
        return builder.EndTable();
    }

    private static int WriteOperatorCode(FlatBufferBuilder builder, BuiltinOperator op, int version)
    {
        builder.StartTable(OperatorCodeFields.Count);
        builder.AddSbyte(OperatorCodeFields.DeprecatedBuiltinCode, (sbyte)Math.Min((int)op, 127), -1);
        builder.AddInt(OperatorCodeFields.Version, version, 0);
        builder.AddInt(OperatorCodeFields.BuiltinCode, (int)op, -1);
        return builder.EndTable();
    }

    private static int WriteBuffer(FlatBufferBuilder builder, byte[] data)
    {
        if (data.Length == 0)
        {
            // The sentinel (and any other empty buffer) has no data vector at all.
            builder.StartTable(BufferFields.Count);
            return builder.EndTable();
        }
        builder.StartVector(1, data.Length, BufferFields.DataAlignment);
        builder.Add(data);
        var vector = builder.EndVector();
        builder.StartTable(BufferFields.Count);
        builder.AddOffset(BufferFields.Data, vector.Value, 0);
        return builder.EndTable();
    }

    private static int WriteMetadata(FlatBufferBuilder builder, string name, int buffer)
    {
        var nameString = builder.CreateString(name);
        builder.StartTable(MetadataFields.Count);
        builder.AddOffset(MetadataFields.Name, nameString.Value, 0);
        builder.AddUint(MetadataFields.Buffer, (uint)buffer, uint.MaxValue);
        return builder.EndTable();
    }
}
