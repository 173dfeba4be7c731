using static Distill.Core.Export.Tflite.TfliteSchema;

namespace Distill.Core.Export.Tflite;

/// <summary>Scale and zero point of an integer tensor; <see cref="Dimension"/> is the axis of per-axis scales.</summary>
internal sealed record TfliteQuant(float[] Scale, long[] ZeroPoint, int Dimension = 0);

internal sealed record TfliteTensor(string Name, int[] Shape, TensorType Type, int Buffer, TfliteQuant? Quant);

internal sealed record TfliteOperator(BuiltinOperator Op, int Version, int[] Inputs, int[] Outputs, TfliteOptions? Options);

/// <summary>One subgraph being assembled: constant buffers, tensors and operators in execution order.
/// Buffer 0 is the empty sentinel that every non-constant tensor points at.</summary>
internal sealed class TfliteGraph
{
    private readonly List<byte[]> _buffers = [[]];
    private readonly List<TfliteTensor> _tensors = [];
    private readonly List<TfliteOperator> _operators = [];

    public IReadOnlyList<byte[]> Buffers => _buffers;
    public IReadOnlyList<TfliteTensor> Tensors => _tensors;
    public IReadOnlyList<TfliteOperator> Operators => _operators;
    public List<int> Inputs { get; } = [];
    public List<int> Outputs { get; } = [];

    public TfliteTensor this[int tensor] => _tensors[tensor];

    /// <summary>A tensor whose values are stored in the file.</summary>
    public int AddConstant(string name, int[] shape, TensorType type, byte[] data, TfliteQuant? quant = null)
    {
        long elements = shape.Aggregate(1L, (a, b) => a * b);
        int elementSize = type switch
        {
            TensorType.Float32 or TensorType.Int32 => 4,
            TensorType.Int8 => 1,
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported constant type"),
        };
        if (data.Length != elements * elementSize)
        {
            throw new ArgumentException($"constant '{name}' of shape [{string.Join(",", shape)}] needs {elements * elementSize} bytes, got {data.Length}");
        }
        _buffers.Add(data);
        return Add(new TfliteTensor(name, shape, type, _buffers.Count - 1, quant));
    }

    /// <summary>A tensor computed at run time (an input, an output or an intermediate result).</summary>
    public int AddActivation(string name, int[] shape, TensorType type, TfliteQuant? quant = null) =>
        Add(new TfliteTensor(name, shape, type, 0, quant));

    public void AddOperator(BuiltinOperator op, int version, int[] inputs, int[] outputs, TfliteOptions? options = null) =>
        _operators.Add(new TfliteOperator(op, version, inputs, outputs, options));

    private int Add(TfliteTensor tensor)
    {
        _tensors.Add(tensor);
        return _tensors.Count - 1;
    }
}
