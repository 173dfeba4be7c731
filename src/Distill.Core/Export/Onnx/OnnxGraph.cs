using System.Runtime.InteropServices;
using Distill.Core.Export.Onnx.Proto;
using Google.Protobuf;

namespace Distill.Core.Export.Onnx;

/// <summary>Collects the nodes and initializers of one ONNX graph in topological order.</summary>
internal sealed class OnnxGraph
{
    public const int Float = (int)TensorProto.Types.DataType.Float;
    public const int UInt8 = (int)TensorProto.Types.DataType.Uint8;
    public const int Int8 = (int)TensorProto.Types.DataType.Int8;
    public const int Int32 = (int)TensorProto.Types.DataType.Int32;
    public const int Int64 = (int)TensorProto.Types.DataType.Int64;
    public const int Float16 = (int)TensorProto.Types.DataType.Float16;

    /// <summary>ONNX Runtime's contrib operators (MatMulNBits), opset version 1.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    private readonly HashSet<string> _initializerNames = [];

    public GraphProto Proto { get; } = new() { Name = "distill" };

    /// <summary>Adds a node; returns its first output's name.</summary>
    public string Node(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        Proto.Node.Add(node);
        return node.Output[0];
    }

    public string Node(string opType, string name, IEnumerable<string> inputs, string output, params AttributeProto[] attributes) =>
        Node(opType, name, inputs, [output], attributes);

    public bool HasInitializer(string name) => _initializerNames.Contains(name);

    public string FloatTensor(string name, float[] values, long[] dims) =>
        Initializer(name, Float, dims, MemoryMarshal.AsBytes(values.AsSpan()));

    public string Float16Tensor(string name, float[] values, long[] dims)
    {
        var halves = values.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
        return Initializer(name, Float16, dims, MemoryMarshal.AsBytes(halves.AsSpan()));
    }

    public string Int8Tensor(string name, sbyte[] values, long[] dims) =>
        Initializer(name, Int8, dims, MemoryMarshal.AsBytes(values.AsSpan()));

    public string UInt8Tensor(string name, byte[] values, long[] dims) => Initializer(name, UInt8, dims, values);

    public string Int64Tensor(string name, long[] values, long[] dims) =>
        Initializer(name, Int64, dims, MemoryMarshal.AsBytes(values.AsSpan()));

    /// <summary>Raw data is little-endian by the specification; so is every platform .NET runs on here.</summary>
    private string Initializer(string name, int dataType, long[] dims, ReadOnlySpan<byte> bytes)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX export writes tensors in the machine's byte order, which must be little-endian");
        }
        if (!_initializerNames.Add(name))
        {
            throw new InvalidOperationException($"initializer '{name}' was added twice");
        }
        var tensor = new TensorProto { Name = name, DataType = dataType, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        Proto.Initializer.Add(tensor);
        return name;
    }

    public static ValueInfoProto TensorValue(string name, int elementType, IEnumerable<(long Size, string? Param)> dims)
    {
        var shape = new TensorShapeProto();
        foreach (var (size, param) in dims)
        {
            shape.Dim.Add(param is null ? new TensorShapeProto.Types.Dimension { DimValue = size } : new TensorShapeProto.Types.Dimension { DimParam = param });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } },
        };
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto FloatAttribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
}
