using Distill.Core.Export.Onnx;
using Distill.Core.Export.Onnx.Proto;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export;

/// <summary>A scratch folder for exported files, deleted afterwards.</summary>
internal sealed class ExportFolder : IDisposable
{
    public ExportFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"distill-onnx-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

internal static class ExportAssert
{
    /// <summary>Logits of an ONNX file for <paramref name="x"/>, run in ONNX Runtime.</summary>
    public static Tensor RunOnnx(string path, Tensor x, OnnxRunnerOptions? options = null)
    {
        using var runner = new OnnxRuntimeRunner(path, options);
        return runner.Run(x);
    }

    public static double Top1Agreement(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.argmax(1).eq(b.argmax(1)).to_type(ScalarType.Float64).mean().item<double>();
    }

    public static float MaxAbsDiff(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a - b).abs().max().item<float>();
    }

    public static ModelProto Load(string path) => ModelProto.Parser.ParseFrom(System.IO.File.ReadAllBytes(path));

    public static TensorProto Initializer(ModelProto model, string name) =>
        model.Graph.Initializer.Single(t => t.Name == name);
}
