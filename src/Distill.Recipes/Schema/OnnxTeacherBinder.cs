using Distill.Core.Distillation;

namespace Distill.Recipes.Schema;

/// <summary>Binds a validated teacher.onnx section to Core's <see cref="OnnxTeacherOptions"/>.</summary>
internal static class OnnxTeacherBinder
{
    public static OnnxTeacherOptions Bind(MapValue teacher)
    {
        var outputs = teacher.Map("outputs");
        var input = teacher.Map("input");
        var preprocess = input?.Map("preprocess");
        return new OnnxTeacherOptions
        {
            Path = (string)teacher.Raw("onnx")!,
            LogitsOutput = outputs?.Str("logits"),
            Taps = outputs?.Map("taps")?.Entries.ToDictionary(e => e.Key, e => (string)((ScalarValue)e.Value).Raw) ?? [],
            Threads = teacher.Raw("threads") is long threads ? (int)threads : 1,
            BatchSize = teacher.Raw("batch_size") is long batch ? (int)batch : 256,
            InputName = input?.Str("name"),
            Layout = input?.Str("layout") == "nhwc" ? TeacherInputLayout.Nhwc : TeacherInputLayout.Nchw,
            Mean = Doubles(preprocess, "mean"),
            Std = Doubles(preprocess, "std"),
        };
    }

    private static double[]? Doubles(MapValue? map, string key) =>
        map?.Get(key) is ListValue list ? list.Items.Select(i => (double)((ScalarValue)i).Raw).ToArray() : null;
}
