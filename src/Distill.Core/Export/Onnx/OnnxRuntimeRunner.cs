using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Export.Onnx;

/// <summary>How an ONNX file is run.</summary>
public sealed record OnnxRunnerOptions
{
    /// <summary>Intra-op threads; 0 lets ONNX Runtime choose (one per core).</summary>
    public int Threads { get; init; } = 1;
    /// <summary>Samples per session run.</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>When set, ONNX Runtime saves the graph it optimised (after its fusions) to this path.</summary>
    public string? OptimizedModelPath { get; init; }
}

/// <summary>An ONNX file loaded in ONNX Runtime (CPU, all graph optimisations on). Takes float inputs
/// [N, ...sample shape] and returns float32 logits [N, classes]; a float16 input or output is converted inside.</summary>
public sealed class OnnxRuntimeRunner : IExportedModelRunner
{
    private readonly InferenceSession _session;
    private readonly string _inputName;
    private readonly string _outputName;
    private readonly long[] _sampleShape;
    private readonly bool _halfInput;
    private readonly bool _halfOutput;
    private readonly int _batchSize;

    public OnnxRuntimeRunner(string path, OnnxRunnerOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new OnnxRunnerOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(options.Threads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize);
        Path = path;
        _batchSize = options.BatchSize;
        _session = OpenSession(path, options.Threads, options.OptimizedModelPath);
        try
        {
            // Several outputs: a file exported with its taps exposed; the logits are the output named "logits".
            bool oneOutput = _session.OutputMetadata.Count == 1;
            if (_session.InputMetadata.Count != 1 || (!oneOutput && !_session.OutputMetadata.ContainsKey(OnnxExporter.OutputName)))
            {
                throw new InvalidInputException($"ONNX model '{path}' has {_session.InputMetadata.Count} inputs and {_session.OutputMetadata.Count} outputs; a classifier has one input and one output (or an output named '{OnnxExporter.OutputName}').");
            }
            var (inputName, input) = _session.InputMetadata.Single();
            var (outputName, output) = oneOutput
                ? _session.OutputMetadata.Single()
                : _session.OutputMetadata.First(kv => kv.Key == OnnxExporter.OutputName);
            _inputName = inputName;
            _outputName = outputName;
            _halfInput = IsHalf(path, inputName, input);
            _halfOutput = IsHalf(path, outputName, output);
            _sampleShape = input.Dimensions.Skip(1).Select(d => (long)d).ToArray();
            if (_sampleShape.Any(d => d <= 0))
            {
                throw new InvalidInputException($"ONNX model '{path}': input '{inputName}' has a dynamic dimension besides the batch: [{string.Join(",", input.Dimensions)}].");
            }
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    public string Path { get; }

    /// <summary>Shape of one input sample (without the batch dimension).</summary>
    public IReadOnlyList<long> SampleShape => _sampleShape;

    public Tensor Run(Tensor input, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.shape.Skip(1).SequenceEqual(_sampleShape))
        {
            throw new InvalidInputException($"ONNX model '{Path}' takes samples of shape [{string.Join(",", _sampleShape)}], got a batch of shape [{string.Join(",", input.shape)}].");
        }
        float[] values;
        using (var contiguous = input.detach().to_type(ScalarType.Float32).cpu().contiguous())
        {
            values = contiguous.data<float>().ToArray();
        }
        long n = input.shape[0];
        long sampleSize = _sampleShape.Aggregate(1L, (a, b) => a * b);
        var logits = new List<float>();
        long classes = 0;
        for (long start = 0; start < n; start += _batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            long count = Math.Min(_batchSize, n - start);
            var batch = values.AsSpan((int)(start * sampleSize), (int)(count * sampleSize));
            var (output, width) = RunBatch(batch, count);
            logits.AddRange(output);
            classes = width;
        }
        return n == 0 ? zeros(0, OutputWidth()) : tensor(logits.ToArray(), [n, classes]);
    }

    public void Dispose() => _session.Dispose();

    private (float[] Logits, long Classes) RunBatch(ReadOnlySpan<float> batch, long count)
    {
        long[] shape = [count, .. _sampleShape];
        using var value = _halfInput
            ? OrtValue.CreateTensorValueFromMemory(ToHalf(batch), shape)
            : OrtValue.CreateTensorValueFromMemory(batch.ToArray(), shape);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, [_inputName], [value], [_outputName]);
        var result = outputs[0];
        long[] outShape = result.GetTensorTypeAndShape().Shape;
        float[] logits = _halfOutput
            ? result.GetTensorDataAsSpan<Float16>().ToArray().Select(h => h.ToFloat()).ToArray()
            : result.GetTensorDataAsSpan<float>().ToArray();
        return (logits, outShape[^1]);
    }

    private long OutputWidth() => _session.OutputMetadata[_outputName].Dimensions[^1];

    private static Float16[] ToHalf(ReadOnlySpan<float> values)
    {
        var halves = new Float16[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            halves[i] = (Float16)values[i];
        }
        return halves;
    }

    private static bool IsHalf(string path, string name, NodeMetadata metadata) => metadata.ElementDataType switch
    {
        TensorElementType.Float => false,
        TensorElementType.Float16 => true,
        var other => throw new InvalidInputException($"ONNX model '{path}': tensor '{name}' is {other}; only float32 and float16 inputs and outputs are supported."),
    };

    /// <summary>ONNX Runtime's name for its CUDA execution provider.</summary>
    public const string CudaProvider = "CUDAExecutionProvider";

    /// <summary>Null when this ONNX Runtime can run models on a CUDA GPU, else why not and how to get it.</summary>
    public static string? CudaUnavailable() =>
        OrtEnv.Instance().GetAvailableProviders().Contains(CudaProvider)
            ? null
            : "device: cuda runs ONNX teachers with ONNX Runtime's CUDA execution provider, which this build's ONNX Runtime "
              + "(NuGet package Microsoft.ML.OnnxRuntime, CPU only) does not have; build Distill with Microsoft.ML.OnnxRuntime.Gpu "
              + "instead (not served by this project's package feed), or set device: cpu";

    /// <param name="cuda">Run on the GPU with the CUDA execution provider (a teacher of a device: cuda run); refused
    /// with <see cref="InvalidInputException"/> when this ONNX Runtime has no such provider.</param>
    internal static InferenceSession OpenSession(string path, int threads, string? optimizedModelPath = null, bool cuda = false)
    {
        if (!File.Exists(path))
        {
            throw new InvalidInputException($"ONNX model '{path}' does not exist.");
        }
        if (cuda && CudaUnavailable() is { } why)
        {
            throw new InvalidInputException($"ONNX model '{path}': {why}");
        }
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        if (cuda)
        {
            // Nodes the CUDA provider cannot run fall back to the CPU provider, as ONNX Runtime places them.
            options.AppendExecutionProvider_CUDA(0);
        }
        if (optimizedModelPath is not null)
        {
            options.OptimizedModelFilePath = optimizedModelPath;
        }
        try
        {
            return new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidInputException($"ONNX Runtime cannot load '{path}': {e.Message}");
        }
    }
}
