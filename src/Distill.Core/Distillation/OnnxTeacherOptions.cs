namespace Distill.Core.Distillation;

/// <summary>How an ONNX teacher takes its input: channels first ([N, C, H, W], Distill's and PyTorch's
/// layout) or channels last ([N, H, W, C], TensorFlow's).</summary>
public enum TeacherInputLayout { Nchw, Nhwc }

/// <summary>A teacher given as an ONNX file, run in ONNX Runtime for forward passes only.</summary>
/// <remarks>What the teacher receives: each sample as read (IDX pixels scaled to 0..1, CSV features divided by
/// the data's scale), that is, before the data's own normalisation, which the student gets; then, when
/// <see cref="Mean"/> and <see cref="Std"/> are given, x' = (x − Mean[c]) / Std[c] per channel (one value for
/// tabular rows); then laid out as <see cref="Layout"/> says.</remarks>
public sealed record OnnxTeacherOptions
{
    /// <summary>The ONNX file, relative to the plan's base directory unless rooted.</summary>
    public required string Path { get; init; }
    /// <summary>Output holding the logits [N, classes]; null: the file's only output, else the one named "logits".</summary>
    public string? LogitsOutput { get; init; }
    /// <summary>Tap name (as hint losses name it) → output name in the file.</summary>
    public IReadOnlyDictionary<string, string> Taps { get; init; } = new Dictionary<string, string>();
    /// <summary>ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose (one per core).</summary>
    public int Threads { get; init; } = 1;
    /// <summary>Samples per ONNX Runtime run (a file with a fixed batch dimension is run at that size instead).</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>The input to feed; null: the file's only input.</summary>
    public string? InputName { get; init; }
    public TeacherInputLayout Layout { get; init; } = TeacherInputLayout.Nchw;
    /// <summary>Per-channel normalisation of the teacher's input; null: the values as read.</summary>
    public double[]? Mean { get; init; }
    public double[]? Std { get; init; }
}
