using Distill.Core.Export.Onnx;

namespace Distill.Cli.Commands;

internal static class LmOnnx
{
    /// <summary>An existing .onnx file whose model card says it is a language model.</summary>
    public static bool IsLanguageModelFile(string path) =>
        Path.GetExtension(path).Equals(".onnx", StringComparison.OrdinalIgnoreCase) && File.Exists(path) && OnnxLmRunner.IsLanguageModel(path);
}
