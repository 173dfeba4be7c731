using Distill.Core.Distillation;

namespace Distill.Recipes.Schema;

/// <summary>Rules of a teacher given as an ONNX file (teacher.onnx): its keys go together and exclude a zoo
/// teacher's; for classifiers every hint names one of its declared taps; a language-model file (data.format text)
/// gives logits only, so it takes no input layout or taps and serves KD alone.</summary>
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
        if (root.Map("data")?.Str("format") == "text")
        {
            CheckLanguageModel(root, teacher, errors);
            return true;
        }
        CheckPreprocess(teacher, "teacher", errors);
        CheckHintTaps(root, teacher, errors);
        return true;
    }

    /// <summary>input.preprocess of an ONNX file (<paramref name="path"/>: teacher, or a member of an ensemble) gives one
    /// std per mean.</summary>
    public static void CheckPreprocess(MapValue onnx, string path, List<RecipeError> errors)
    {
        if (onnx.Map("input")?.Map("preprocess") is { } preprocess
            && preprocess.Get("mean") is ListValue mean && preprocess.Get("std") is ListValue std && mean.Items.Count != std.Items.Count)
        {
            errors.Add(std.At.Error($"{path}.input.preprocess.std: has {std.Items.Count} entries but mean has {mean.Items.Count}"));
        }
    }

    /// <summary>A language-model ONNX teacher takes token ids and gives logits: no input options, no taps, and no
    /// loss that needs its hidden states or attention maps.</summary>
    private static void CheckLanguageModel(MapValue root, MapValue teacher, List<RecipeError> errors)
    {
        if (teacher.Find("input") is { } input)
        {
            errors.Add(input.KeyAt.Error("teacher.input: not for a language-model teacher; an ONNX language model takes the token ids of data.tokenizer"));
        }
        if (teacher.Map("outputs")?.Find("taps") is { } taps)
        {
            errors.Add(taps.KeyAt.Error("teacher.outputs.taps: not for a language-model teacher; an ONNX language-model teacher gives its logits only"));
        }
        var stages = root.List("stages").OfType<MapValue>().ToList();
        for (int i = 0; i < stages.Count; i++)
        {
            foreach (var key in Losses.KeysNeeding(LossNeeds.TeacherInternals))
            {
                if (stages[i].Map("loss")?.Find(key) is { } entry)
                {
                    errors.Add(entry.KeyAt.Error(
                        $"stages[{i}].loss.{key}: needs the teacher's hidden states, but an ONNX language-model teacher (teacher.onnx) gives its logits only; use loss.kd (with or without loss.teacher_cache)"));
                }
            }
        }
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
