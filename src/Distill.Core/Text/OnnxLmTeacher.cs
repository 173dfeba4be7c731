using Distill.Core.Distillation;
using Distill.Core.Export.Onnx;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>A language-model teacher given as an ONNX file (one <c>distill export</c> wrote, or any file with the
/// same contract: int64 <c>tokens</c> [batch, sequence] in, float logits [batch, sequence, vocab] out, a
/// language-model card in its metadata), run in ONNX Runtime for forward passes only, in batches of
/// <see cref="OnnxTeacherOptions.BatchSize"/> windows. It gives logits only: KD, not hint or attention losses.</summary>
public sealed class OnnxLmTeacher : ILmLogitSource, IDisposable
{
    private readonly OnnxLmRunner _runner;
    private readonly int _batchSize;

    private OnnxLmTeacher(OnnxLmRunner runner, int batchSize)
    {
        _runner = runner;
        _batchSize = batchSize;
    }

    /// <summary>Opens <paramref name="path"/> (the resolved <see cref="OnnxTeacherOptions.Path"/>); throws
    /// <see cref="InvalidInputException"/> naming the file when it is not a language-model ONNX file, lacks the
    /// logits output, or the options ask for what a language model does not take (an input layout, taps).</summary>
    /// <param name="device">The run's device: cuda runs the file with ONNX Runtime's CUDA execution provider.</param>
    public static OnnxLmTeacher Load(OnnxTeacherOptions options, string path, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        if (!File.Exists(path))
        {
            throw new InvalidInputException($"{path}: the ONNX teacher file does not exist");
        }
        if (options.Taps.Count > 0 || options.InputName is not null || options.Mean is not null || options.Std is not null)
        {
            throw new InvalidInputException(
                $"{path}: a language-model teacher takes token ids and gives logits only; teacher.input and teacher.outputs.taps do not apply");
        }
        var runner = new OnnxLmRunner(path, options.Threads, logitsOutput: options.LogitsOutput ?? LmOnnxExporter.OutputName,
            cuda: device?.type == TorchSharp.DeviceType.CUDA);
        return new OnnxLmTeacher(runner, options.BatchSize);
    }

    public string Path => _runner.Path;

    public int VocabSize => _runner.VocabSize;

    /// <summary>The longest window the file takes, from its model card.</summary>
    public int Context => _runner.Context;

    /// <summary>The tokenizer in the file's model card.</summary>
    public ITokenizer Tokenizer => _runner.Tokenizer;

    public Tensor Logits(Tensor tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.dim() != 2)
        {
            throw new ArgumentException($"tokens must be [batch, sequence]; got [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        }
        int batch = (int)tokens.shape[0];
        int sequence = (int)tokens.shape[1];
        var ids = tokens.to_type(ScalarType.Int64).cpu().contiguous().data<long>().ToArray();
        var logits = new float[(long)batch * sequence * VocabSize];
        int rowValues = sequence * VocabSize;
        for (int start = 0; start < batch; start += _batchSize)
        {
            int rows = Math.Min(_batchSize, batch - start);
            var part = _runner.Logits(ids[(start * sequence)..((start + rows) * sequence)], rows, sequence);
            part.CopyTo(logits, (long)start * rowValues);
        }
        // Back where the tokens came from: the student's device.
        return tensor(logits, [batch, sequence, VocabSize], device: tokens.device);
    }

    public void Dispose() => _runner.Dispose();
}
