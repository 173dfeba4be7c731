using Distill.Core.Models;

namespace Distill.Recipes.Schema;

/// <summary>Rules of language-model recipes (data.format text, arch transformer-lm) that involve more than one
/// key: text data and transformer-lm models go together, heads divide d_model, LM-only loss terms stay out of
/// image recipes (and image-only stage features out of LM recipes), layer names exist, and the teacher cache
/// serves kd alone. Sizes that only a checkpoint knows (a loaded model's vocabulary and context) are checked by
/// Core before the run opens.</summary>
internal static class LmChecks
{
    private static readonly string Lm = Architectures.NameOf(ModelArch.TransformerLm);
    private static readonly string[] LmOnlyLossKeys = [.. Core.Distillation.Losses.Keys.Where(k => k.Key.LanguageModelsOnly).Select(k => k.Key.Key)];

    public static void Run(MapValue root, List<RecipeError> errors)
    {
        var data = root.Map("data");
        bool text = data?.Str("format") == "text";
        var teacher = root.Map("teacher");
        var teacherModel = teacher?.Map("model");
        var studentModel = root.Map("student")?.Map("model");
        if (data is not null)
        {
            CheckModel(teacherModel, "teacher.model", text, errors);
            CheckModel(studentModel, "student.model", text, errors);
        }
        if (text)
        {
            CheckTextData(data!, errors);
        }

        bool lmStudent = studentModel?.Str("arch") == Lm;
        bool lmTeacher = teacherModel?.Str("arch") == Lm;
        if (lmTeacher && teacher!.Map("train") is { } teacherTrain)
        {
            CheckLmStage(teacherTrain, "teacher.train", errors);
        }
        var stages = root.List("stages").OfType<MapValue>().ToList();
        for (int i = 0; i < stages.Count; i++)
        {
            string path = $"stages[{i}]";
            if (!lmStudent)
            {
                if (stages[i].Map("loss") is { } loss)
                {
                    foreach (var key in LmOnlyLossKeys)
                    {
                        if (loss.Find(key) is { } entry)
                        {
                            errors.Add(entry.KeyAt.Error($"{path}.loss.{key}: only for language models (student.model.arch: {Lm})"));
                        }
                    }
                }
                continue;
            }
            CheckLmStage(stages[i], path, errors);
            CheckLossNames(stages[i], path, studentModel!, lmTeacher ? teacherModel : null, errors);
            CheckTeacherCache(stages[i], path, data, errors);
        }
    }

    private static void CheckModel(MapValue? model, string path, bool text, List<RecipeError> errors)
    {
        if (model?.Find("arch") is not { Value: ScalarValue { Raw: string arch } value })
        {
            return;
        }
        if (text && arch != Lm)
        {
            errors.Add(value.At.Error($"{path}.arch: data.format text trains language models; use arch: {Lm}"));
        }
        else if (!text && arch == Lm)
        {
            errors.Add(value.At.Error($"{path}.arch: {Lm} needs text data (data.format: text)"));
        }
        if (arch == Lm && model.Raw("d_model") is long dModel && model.Find("heads") is { Value: ScalarValue { Raw: long heads } headsValue }
            && dModel % heads != 0)
        {
            errors.Add(headsValue.At.Error($"{path}.heads: must divide d_model ({dModel}); {heads} heads do not"));
        }
    }

    private static void CheckTextData(MapValue data, List<RecipeError> errors)
    {
        if (data.Find("validation_fraction") is { Value: ScalarValue { Raw: double fraction } value } && (fraction <= 0 || fraction > 0.5))
        {
            errors.Add(value.At.Error(
                $"data.validation_fraction: text needs validation text for its metrics: must be in (0, 0.5], got {ScalarSchema.Format(fraction)}"));
        }
        foreach (var key in new[] { "mean", "std" })
        {
            if (data.Find(key) is { } entry)
            {
                errors.Add(entry.KeyAt.Error($"data.{key}: only allowed when data.format is idx or csv or image_folder"));
            }
        }
    }

    /// <summary>Stage features that language-model training does not have.</summary>
    private static void CheckLmStage(MapValue stage, string path, List<RecipeError> errors)
    {
        foreach (var key in new[] { "prune", "quantize" })
        {
            if (stage.Find(key) is { } entry)
            {
                errors.Add(entry.KeyAt.Error($"{path}.{key}: not supported for {Lm} models"));
            }
        }
        if (stage.Map("loss")?.Find("label_smoothing") is { Value: ScalarValue { Raw: double smoothing } smoothingValue } && smoothing > 0)
        {
            errors.Add(smoothingValue.At.Error($"{path}.loss.label_smoothing: not supported for {Lm} models; leave it 0"));
        }
        if (stage.Map("early_stop")?.Find("metric") is { Value: ScalarValue { Raw: "val/acc" } metric })
        {
            errors.Add(metric.At.Error($"{path}.early_stop.metric: language models have no accuracy; use val/loss (validation cross-entropy)"));
        }
    }

    /// <summary>Hint and attention names against the models' layers: hidden states embed, block0..block{L-1},
    /// final; attention blocks block0..block{L-1}.</summary>
    private static void CheckLossNames(MapValue stage, string path, MapValue student, MapValue? teacher, List<RecipeError> errors)
    {
        if (stage.Map("loss") is not { } loss)
        {
            return;
        }
        var hints = new List<(MapValue Hint, string Path)>();
        if (loss.Map("hint") is { } hint)
        {
            hints.Add((hint, $"{path}.loss.hint"));
        }
        var list = loss.List("hints").OfType<MapValue>().ToList();
        hints.AddRange(list.Select((h, i) => (h, $"{path}.loss.hints[{i}]")));
        foreach (var (item, itemPath) in hints)
        {
            CheckName(item, "student_tap", itemPath, Hidden(student), "student hidden state", errors);
            CheckName(item, "teacher_tap", itemPath, teacher is null ? null : Hidden(teacher), "teacher hidden state", errors);
        }
        if (loss.Map("attention") is { } attention)
        {
            CheckName(attention, "student_block", $"{path}.loss.attention", Blocks(student), "student block", errors);
            CheckName(attention, "teacher_block", $"{path}.loss.attention", teacher is null ? null : Blocks(teacher), "teacher block", errors);
        }
    }

    private static void CheckTeacherCache(MapValue stage, string path, MapValue? data, List<RecipeError> errors)
    {
        if (stage.Map("loss") is not { } loss || loss.Find("teacher_cache") is not { } cache)
        {
            return;
        }
        string at = $"{path}.loss.teacher_cache";
        if (loss.Find("kd") is null)
        {
            errors.Add(cache.KeyAt.Error($"{at}: needs kd (the cache holds the teacher's logits for the soft-target term)"));
        }
        var live = Core.Distillation.Losses.KeysNeeding(Core.Distillation.LossNeeds.LiveTeacher).Where(k => loss.Find(k) is not null).ToList();
        if (live.Count > 0)
        {
            errors.Add(cache.KeyAt.Error(
                $"{at}: {string.Join(" and ", live)} need the teacher's hidden states at every step, which the cache does not hold; drop teacher_cache or {string.Join(", ", live)}"));
        }
        if (data?.Str("tokenizer") == "byte" && cache.Value is MapValue map && map.Find("top_k") is { Value: ScalarValue { Raw: long k } kValue } && k > 256)
        {
            errors.Add(kValue.At.Error($"{at}.top_k: must be at most the vocabulary (256 byte tokens), got {k}"));
        }
    }

    private static void CheckName(MapValue map, string key, string path, IReadOnlyList<string>? valid, string what, List<RecipeError> errors)
    {
        if (valid is null || map.Find(key) is not { Value: ScalarValue { Raw: string name } value } || valid.Contains(name))
        {
            return;
        }
        errors.Add(value.At.Error($"{path}.{key}: '{name}' is not a {what}; valid: {string.Join(", ", valid)}"));
    }

    private static IReadOnlyList<string>? Blocks(MapValue model) =>
        model.Raw("layers") is long layers ? Enumerable.Range(0, (int)layers).Select(i => $"block{i}").ToList() : null;

    private static IReadOnlyList<string>? Hidden(MapValue model) =>
        Blocks(model) is { } blocks ? ["embed", .. blocks, "final"] : null;
}
