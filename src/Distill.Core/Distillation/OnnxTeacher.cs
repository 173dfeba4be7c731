using System.Globalization;
using Distill.Core.Data;
using Distill.Core.Export.Onnx;
using Distill.Core.Training;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace Distill.Core.Distillation;

/// <summary>An ONNX file as the teacher, run in ONNX Runtime for forward passes only, in batches (on the CPU, or with
/// the CUDA execution provider when the run's device is cuda).
/// Everything about the file is checked when it is loaded: the input fits the data, the named outputs exist,
/// the logits have the student's number of classes; a probe run of one batch gives the taps' shapes.</summary>
public sealed class OnnxTeacher : ITeacher, IDisposable
{
    private readonly InferenceSession _session;
    private readonly string _inputName;
    private readonly string _logitsOutput;
    private readonly IReadOnlyDictionary<string, string> _tapOutputs;
    private readonly Dictionary<string, long[]> _tapShapes = [];
    private readonly long[] _teacherSampleShape;
    private readonly int _batchSize;
    private readonly bool _fixedBatch;
    private readonly TeacherInputLayout _layout;
    private readonly Tensor? _scale;
    private readonly Tensor? _shift;

    private OnnxTeacher(InferenceSession session, string path, OnnxTeacherOptions options, string inputName, string logitsOutput,
        long[] teacherSampleShape, int batchSize, bool fixedBatch, (Tensor Scale, Tensor Shift)? affine)
    {
        _session = session;
        Path = path;
        _inputName = inputName;
        _logitsOutput = logitsOutput;
        _tapOutputs = new Dictionary<string, string>(options.Taps);
        TapNames = [.. options.Taps.Keys];
        _teacherSampleShape = teacherSampleShape;
        _batchSize = batchSize;
        _fixedBatch = fixedBatch;
        _layout = options.Layout;
        _scale = affine?.Scale;
        _shift = affine?.Shift;
    }

    /// <summary>Full path of the ONNX file.</summary>
    public string Path { get; }

    public IReadOnlyList<string> TapNames { get; }

    public string Description => $"ONNX model '{Path}'";

    /// <summary>Width of the logits output (the student's number of classes).</summary>
    public long Classes { get; private set; }

    /// <summary>Loads and checks the teacher for data whose samples have <paramref name="sampleShape"/> (as the
    /// student takes them, normalised with <paramref name="dataNormalization"/>) and <paramref name="numClasses"/>
    /// classes. Problems with the file throw <see cref="InvalidInputException"/> naming it.</summary>
    /// <param name="device">The run's device: cuda runs the file with ONNX Runtime's CUDA execution provider.</param>
    public static OnnxTeacher Load(OnnxTeacherOptions options, string path, long[] sampleShape, int numClasses, Normalization? dataNormalization,
        Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sampleShape);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Threads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize);
        path = System.IO.Path.GetFullPath(path);
        var session = OnnxRuntimeRunner.OpenSession(path, options.Threads, cuda: device?.type == DeviceType.CUDA);
        OnnxTeacher? teacher = null;
        (Tensor Scale, Tensor Shift)? affine = null;
        try
        {
            string inputName = InputName(session, options, path);
            var input = session.InputMetadata[inputName];
            RequireFloat(path, "input", inputName, input);
            long[] teacherShape = TeacherSampleShape(sampleShape, options.Layout);
            int[] dims = input.Dimensions;
            if (dims.Length != teacherShape.Length + 1 || dims.Skip(1).Zip(teacherShape).Any(d => d.First > 0 && d.First != d.Second))
            {
                throw new InvalidInputException(
                    $"ONNX model '{path}': input '{inputName}' takes {Dims(dims)} ({LayoutText(options.Layout, dims.Length)}), but the data's samples " +
                    $"give {Dims([-1, .. teacherShape])} (the data's sample shape is [{string.Join(",", sampleShape)}]); check data.image_shape and teacher.input.layout");
            }
            bool fixedBatch = dims[0] > 0;
            int batchSize = fixedBatch ? dims[0] : options.BatchSize;

            string logitsOutput = LogitsOutput(session, options, path);
            RequireFloat(path, "output", logitsOutput, session.OutputMetadata[logitsOutput]);
            foreach (var (tap, output) in options.Taps)
            {
                RequireOutput(session, output, $"teacher.outputs.taps.{tap}", path);
                RequireFloat(path, "output", output, session.OutputMetadata[output]);
            }
            affine = Affine(options, sampleShape, dataNormalization, path);
            teacher = new OnnxTeacher(session, path, options, inputName, logitsOutput, teacherShape, batchSize, fixedBatch, affine);
            teacher.Probe(sampleShape, numClasses);
            return teacher;
        }
        catch
        {
            if (teacher is not null)
            {
                teacher.Dispose();
            }
            else
            {
                session.Dispose();
                affine?.Scale.Dispose();
                affine?.Shift.Dispose();
            }
            throw;
        }
    }

    public long[] TapShape(string tap)
    {
        RequireTap(tap);
        return (long[])_tapShapes[tap].Clone();
    }

    public (Tensor Logits, IReadOnlyDictionary<string, Tensor> Taps) ForwardWithTaps(Tensor x, IReadOnlyCollection<string> taps)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(taps);
        foreach (var tap in taps)
        {
            RequireTap(tap);
        }
        string[] outputs = [_logitsOutput, .. taps.Select(t => _tapOutputs[t])];
        float[] values = TeacherInput(x);
        long n = x.shape[0];
        long sampleSize = _teacherSampleShape.Aggregate(1L, (a, b) => a * b);
        var collected = outputs.Select(_ => new List<float>()).ToArray();
        var shapes = new long[outputs.Length][];
        for (long start = 0; start < n; start += _batchSize)
        {
            long count = Math.Min(_batchSize, n - start);
            var batch = values.AsSpan((int)(start * sampleSize), (int)(count * sampleSize));
            var results = RunBatch(batch, count, outputs);
            for (int o = 0; o < outputs.Length; o++)
            {
                collected[o].AddRange(results[o].Values);
                shapes[o] = results[o].SampleShape;
            }
        }
        // ONNX Runtime's outputs come back in managed memory; they go where the student's input is.
        Tensor Assemble(int o, long[] sampleShape) => tensor(collected[o].ToArray(), [n, .. sampleShape], device: x.device);
        var logits = Assemble(0, n == 0 ? [Classes] : shapes[0]);
        var tapTensors = new Dictionary<string, Tensor>();
        int index = 1;
        foreach (var tap in taps)
        {
            tapTensors[tap] = Assemble(index, n == 0 ? _tapShapes[tap] : shapes[index]);
            index++;
        }
        return (logits, tapTensors);
    }

    /// <summary>Top-1 accuracy and mean cross-entropy of the teacher's logits over <paramref name="data"/>.</summary>
    /// <param name="cancel">Checked before every batch of <see cref="Evaluator.BatchSize"/> samples.</param>
    public Evaluation Evaluate(TensorDataset data, CancellationToken cancel = default) => TeacherEvaluation.Evaluate(this, data, cancel: cancel);

    public void Dispose()
    {
        _session.Dispose();
        _scale?.Dispose();
        _shift?.Dispose();
    }

    /// <summary>Runs one batch of zeros: the logits must be [batch, classes]; the taps' shapes are what comes out.</summary>
    private void Probe(long[] sampleShape, int numClasses)
    {
        using var scope = NewDisposeScope();
        string[] outputs = [_logitsOutput, .. TapNames.Select(t => _tapOutputs[t])];
        var x = zeros([1, .. sampleShape]);
        var results = RunBatch(TeacherInput(x), 1, outputs);
        long[] logits = results[0].SampleShape;
        if (logits.Length != 1 || logits[0] != numClasses)
        {
            throw new InvalidInputException(
                $"ONNX model '{Path}': logits output '{_logitsOutput}' gives [batch,{string.Join(",", logits)}] per batch, but the student has " +
                $"{numClasses} classes: the teacher's logits must be [batch, {numClasses}]");
        }
        Classes = numClasses;
        for (int i = 0; i < TapNames.Count; i++)
        {
            _tapShapes[TapNames[i]] = results[i + 1].SampleShape;
        }
    }

    private float[] TeacherInput(Tensor x)
    {
        using var scope = NewDisposeScope();
        var input = x.detach().to_type(ScalarType.Float32).cpu();
        if (_scale is not null && _shift is not null)
        {
            input = (input * _scale).Plus(_shift);
        }
        if (_layout == TeacherInputLayout.Nhwc && input.dim() == 4)
        {
            input = input.permute(0, 2, 3, 1);
        }
        return input.contiguous().data<float>().ToArray();
    }

    private (float[] Values, long[] SampleShape)[] RunBatch(ReadOnlySpan<float> batch, long count, string[] outputs)
    {
        long sampleSize = _teacherSampleShape.Aggregate(1L, (a, b) => a * b);
        long runCount = _fixedBatch ? _batchSize : count;
        // A file with a fixed batch dimension gets its last batch padded with zeros; the padding's outputs are dropped.
        var values = new float[runCount * sampleSize];
        batch.CopyTo(values);
        long[] shape = [runCount, .. _teacherSampleShape];
        using var value = OrtValue.CreateTensorValueFromMemory(values, shape);
        using var runOptions = new RunOptions();
        IDisposableReadOnlyCollection<OrtValue> results;
        try
        {
            results = _session.Run(runOptions, [_inputName], [value], outputs);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidInputException($"ONNX Runtime could not run '{Path}' on a batch of shape {Dims(shape)}: {e.Message}");
        }
        using (results)
        {
            var collected = new (float[] Values, long[] SampleShape)[outputs.Length];
            for (int o = 0; o < outputs.Length; o++)
            {
                long[] outShape = results[o].GetTensorTypeAndShape().Shape;
                if (outShape.Length < 1 || outShape[0] != runCount)
                {
                    throw new InvalidInputException(
                        $"ONNX model '{Path}': output '{outputs[o]}' is {Dims(outShape)} for a batch of {runCount}; a teacher's outputs must have the batch first");
                }
                long[] sampleShape = outShape[1..];
                long keep = count * sampleShape.Aggregate(1L, (a, b) => a * b);
                collected[o] = (results[o].GetTensorDataAsSpan<float>()[..(int)keep].ToArray(), sampleShape);
            }
            return collected;
        }
    }

    private void RequireTap(string tap)
    {
        if (!_tapOutputs.ContainsKey(tap))
        {
            throw new InvalidInputException(
                $"'{tap}' is not a tap of the teacher {Description}; its taps (teacher.outputs.taps): {(TapNames.Count == 0 ? "none" : string.Join(", ", TapNames))}");
        }
    }

    private static string InputName(InferenceSession session, OnnxTeacherOptions options, string path)
    {
        var inputs = session.InputMetadata;
        if (options.InputName is { } name)
        {
            if (!inputs.ContainsKey(name))
            {
                throw new InvalidInputException($"ONNX model '{path}' has no input '{name}' (teacher.input.name); its inputs: {Describe(inputs)}");
            }
            return name;
        }
        if (inputs.Count != 1)
        {
            throw new InvalidInputException($"ONNX model '{path}' has {inputs.Count} inputs; name the one to feed with teacher.input.name. Its inputs: {Describe(inputs)}");
        }
        return inputs.Keys.Single();
    }

    private static string LogitsOutput(InferenceSession session, OnnxTeacherOptions options, string path)
    {
        var outputs = session.OutputMetadata;
        if (options.LogitsOutput is { } name)
        {
            RequireOutput(session, name, "teacher.outputs.logits", path);
            return name;
        }
        if (outputs.Count == 1)
        {
            return outputs.Keys.Single();
        }
        if (outputs.ContainsKey(Export.Onnx.OnnxExporter.OutputName))
        {
            return Export.Onnx.OnnxExporter.OutputName;
        }
        throw new InvalidInputException(
            $"ONNX model '{path}' has {outputs.Count} outputs and none is named 'logits'; name the logits with teacher.outputs.logits. Its outputs: {Describe(outputs)}");
    }

    private static void RequireOutput(InferenceSession session, string name, string key, string path)
    {
        if (!session.OutputMetadata.ContainsKey(name))
        {
            throw new InvalidInputException($"ONNX model '{path}' has no output '{name}' ({key}); its outputs: {Describe(session.OutputMetadata)}");
        }
    }

    private static void RequireFloat(string path, string role, string name, NodeMetadata metadata)
    {
        if (!metadata.IsTensor || metadata.ElementDataType != TensorElementType.Float)
        {
            throw new InvalidInputException(
                $"ONNX model '{path}': {role} '{name}' is {(metadata.IsTensor ? metadata.ElementDataType.ToString() : "not a tensor")}; a teacher's input and outputs must be float32 tensors");
        }
    }

    private static long[] TeacherSampleShape(long[] sampleShape, TeacherInputLayout layout)
    {
        // Tabular rows have no channels to move: they are [N, features] in either layout.
        return layout == TeacherInputLayout.Nhwc && sampleShape.Length == 3
            ? [sampleShape[1], sampleShape[2], sampleShape[0]]
            : (long[])sampleShape.Clone();
    }

    /// <summary>teacher input = (x·dataStd + dataMean − Mean) / Std per channel (<see cref="InputAffine"/>), or null
    /// when the student's input is already what the teacher takes.</summary>
    private static (Tensor Scale, Tensor Shift)? Affine(OnnxTeacherOptions options, long[] sampleShape, Normalization? data, string path)
    {
        int channels = InputAffine.Channels(sampleShape);
        if ((options.Mean is null) != (options.Std is null))
        {
            throw new InvalidInputException($"ONNX model '{path}': teacher.input.preprocess needs both mean and std");
        }
        if (options.Mean is { } m && options.Std is { } s)
        {
            if (m.Length != channels || s.Length != channels)
            {
                throw new InvalidInputException(
                    $"ONNX model '{path}': teacher.input.preprocess has {m.Length} mean and {s.Length} std values, but the data has {channels} channel(s)");
            }
            if (s.Any(v => !(double.IsFinite(v) && v > 0)) || m.Any(v => !double.IsFinite(v)))
            {
                throw new InvalidInputException($"ONNX model '{path}': teacher.input.preprocess needs finite means and positive finite standard deviations");
            }
        }
        return data is null && options.Mean is null ? null : InputAffine.Of(sampleShape, data, options.Mean, options.Std);
    }

    private static string Describe(IReadOnlyDictionary<string, NodeMetadata> nodes) =>
        string.Join(", ", nodes.Select(kv => $"{kv.Key} {(kv.Value.IsTensor ? Dims(kv.Value.Dimensions) : "(not a tensor)")}"));

    private static string Dims(IEnumerable<int> dims) => Dims(dims.Select(d => (long)d));

    private static string Dims(IEnumerable<long> dims) =>
        "[" + string.Join(",", dims.Select(d => d > 0 ? d.ToString(CultureInfo.InvariantCulture) : "?")) + "]";

    private static string LayoutText(TeacherInputLayout layout, int rank) =>
        rank == 4 ? $"layout {layout.ToString().ToLowerInvariant()}" : $"rank {rank}";
}
