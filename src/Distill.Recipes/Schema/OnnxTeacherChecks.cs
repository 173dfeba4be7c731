namespace Distill.Recipes.Schema;

/// <summary>Rules of a teacher given as an ONNX file (teacher.onnx): its keys go together and exclude a zoo
/// teacher's, it distils classifiers only, and every hint names one of its declared taps.</summary>
internal static class OnnxTeacherChecks
{
    private static readonly string[] OnnxKeys = ["outputs", "threads", "batch_size", "input"];
    private static readonly string[] ZooKeys = ["model", "train", "checkpoint"];

    /// <summary>True when the teacher is an ONNX teacher (then the zoo teacher's rules do not apply).</summary>
    public static bool Run(MapValue root, MapValue teacher, List<RecipeError> errors)
    {
        bool onnx = teacher.Find("onnx") is not null || teacher.WasInvalid("onnx");
        if (!onnx)
        {
            foreach (var key in OnnxKeys)
            {
                if (teacher.Find(key) is { } entry)
                {
                    errors.Add(entry.KeyAt.Error($"teacher.{key}: only for a teacher given as an ONNX file (teacher.onnx)"));
                }
            }
            return false;
        }
        foreach (var key in ZooKeys)
        {
            if (teacher.Find(key) is { } entry)
            {
                errors.Add(entry.KeyAt.Error($"teacher.{key}: not with teacher.onnx; an ONNX teacher is loaded from its file, neither built nor trained here"));
            }
        }
        if (root.Map("data")?.Str("format") == "text" && teacher.Find("onnx") is { } onnxEntry)
        {
            errors.Add(onnxEntry.KeyAt.Error("teacher.onnx: ONNX teachers distil image and tabular classifiers; a text recipe needs a transformer-lm teacher (teacher.model)"));
        }
        if (teacher.Map("input")?.Map("preprocess") is { } preprocess
            && preprocess.Get("mean") is ListValue mean && preprocess.Get("std") is ListValue std && mean.Items.Count != std.Items.Count)
        {
            errors.Add(std.At.Error($"teacher.input.preprocess.std: has {std.Items.Count} entries but mean has {mean.Items.Count}"));
        }
        CheckHintTaps(root, teacher, errors);
        return true;
    }

    private static void CheckHintTaps(MapValue root, MapValue teacher, List<RecipeError> errors)
    {
        var outputs = teacher.Map("outputs");
        if (teacher.WasInvalid("outputs") || outputs?.WasInvalid("taps") == true)
        {
            return;
        }
        var taps = outputs?.Map("taps")?.Entries.Select(e => e.Key).ToList() ?? [];
        var stages = root.List("stages").OfType<MapValue>().ToList();
        for (int i = 0; i < stages.Count; i++)
        {
            if (stages[i].Map("loss")?.Map("hint")?.Find("teacher_tap") is { Value: ScalarValue { Raw: string tap } value } && !taps.Contains(tap))
            {
                errors.Add(value.At.Error(
                    $"stages[{i}].loss.hint.teacher_tap: '{tap}' is not a tap of the ONNX teacher; declare it in teacher.outputs.taps " +
                    $"(declared: {(taps.Count == 0 ? "none" : string.Join(", ", taps))})"));
            }
        }
    }
}
