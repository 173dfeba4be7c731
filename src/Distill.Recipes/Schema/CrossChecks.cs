using Distill.Core.Distillation;
using Distill.Core.Models;

namespace Distill.Recipes.Schema;

/// <summary>Rules that involve more than one key; they run on the validated (possibly partial) values.</summary>
internal static class CrossChecks
{
    public static void Run(MapValue root, List<RecipeError> errors)
    {
        var teacher = root.Map("teacher");
        if (teacher is not null && !TeacherEnsembleChecks.Run(root, teacher, errors) && !OnnxTeacherChecks.Run(root, teacher, errors))
        {
            CheckTeacherSource(teacher, errors);
        }
        CheckModel(teacher?.Map("model"), "teacher.model", errors);
        CheckModel(root.Map("student")?.Map("model"), "student.model", errors);
        CheckNormalization(root.Map("data"), errors);
        CheckAugmentNeedsImages(root.Map("data"), errors);
        CheckImageChannels(root.Map("data"), errors);

        var stages = root.List("stages").OfType<MapValue>().ToList();
        for (int i = 0; i < stages.Count; i++)
        {
            if (teacher is null)
            {
                RequireTeacher(stages[i], $"stages[{i}]", errors);
            }
            PruneChecks.Run(stages[i], $"stages[{i}]", errors);
        }
        QuantizeChecks.Run(stages, errors);
        CheckStageNames(teacher?.Map("train"), stages, errors);

        var trainStages = stages.Select((s, i) => (Stage: s, Path: $"stages[{i}]")).ToList();
        if (teacher?.Map("train") is { } teacherTrain)
        {
            trainStages.Insert(0, (teacherTrain, "teacher.train"));
        }
        CheckEarlyStop(root.Map("data"), trainStages, errors);
        LmChecks.Run(root, errors);
    }

    private static void CheckTeacherSource(MapValue teacher, List<RecipeError> errors)
    {
        if (teacher.Find("model") is null && !teacher.WasInvalid("model"))
        {
            errors.Add(teacher.At.Error("teacher: missing required key 'model'"));
        }
        var train = teacher.Find("train");
        var checkpoint = teacher.Find("checkpoint");
        if (train is not null && checkpoint is not null)
        {
            errors.Add(checkpoint.KeyAt.Error("teacher: give either train (train it in this run) or checkpoint (load it), not both"));
        }
        else if (train is null && checkpoint is null && !teacher.WasInvalid("train") && !teacher.WasInvalid("checkpoint"))
        {
            errors.Add(teacher.At.Error("teacher: needs either train (train it in this run) or checkpoint (load it)"));
        }
    }

    private static void CheckModel(MapValue? model, string path, List<RecipeError> errors)
    {
        if (model?.Get("channels") is not ListValue channels)
        {
            return;
        }
        if (model.Str("arch") == Architectures.NameOf(ModelArch.Resnet))
        {
            for (int i = 0; i < channels.Items.Count; i++)
            {
                if (channels.Items[i] is ScalarValue { Raw: long width } item && width < ResNetLimits.MinWidth)
                {
                    errors.Add(item.At.Error($"{path}.channels[{i}]: a resnet stage must be at least {ResNetLimits.MinWidth} channels wide, got {width}: {ResNetLimits.MinWidthReason}"));
                }
            }
        }
        if (model.Str("arch") == Architectures.NameOf(ModelArch.MobileNetV2) && model.Raw("width_multiplier") is double multiplier)
        {
            bool exact = model.Raw("exact_widths") is true;
            for (int i = 0; i < channels.Items.Count; i++)
            {
                if (channels.Items[i] is ScalarValue { Raw: long width } item && (exact ? width : MobileNetV2Widths.Scaled((int)Math.Min(width, int.MaxValue), multiplier)) is var scaled && scaled < ResNetLimits.MinWidth)
                {
                    errors.Add(item.At.Error(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"{path}.channels[{i}]: a mobilenet_v2 stage must be at least {ResNetLimits.MinWidth} channels wide, got {(exact ? $"{width} (exact widths)" : $"{width} x width_multiplier {multiplier} = {scaled}")}: {ResNetLimits.MinWidthReason}")));
                }
            }
        }
        CheckInnerWidths(model, path, channels, errors);
        if (model.Raw("exact_widths") is true && model.Find("width_multiplier") is { } multiplierEntry && !model.IsDefault("width_multiplier"))
        {
            errors.Add(multiplierEntry.KeyAt.Error($"{path}.width_multiplier: exact_widths says channels are the widths as built; drop the width multiplier"));
        }
        if (model.Get("blocks") is ListValue blocks && blocks.Items.Count != channels.Items.Count)
        {
            errors.Add(blocks.At.Error(
                $"{path}.blocks: has {blocks.Items.Count} entries but channels has {channels.Items.Count}; give one per stage"));
        }
        foreach (string key in new[] { "depthwise", "pool" })
        {
            if (model.Get(key) is ListValue list && list.Items.Count != channels.Items.Count)
            {
                errors.Add(list.At.Error(
                    $"{path}.{key}: has {list.Items.Count} entries but channels has {channels.Items.Count}; give one per conv block"));
            }
        }
    }

    /// <summary>One inner width per block, each as wide as a stage must be; a mobilenet_v2 without an expand conv has none
    /// of its own (its depthwise conv filters the block's input).</summary>
    private static void CheckInnerWidths(MapValue model, string path, ListValue channels, List<RecipeError> errors)
    {
        if (model.Get("inner_widths") is not ListValue inner)
        {
            return;
        }
        if (model.Str("arch") == Architectures.NameOf(ModelArch.MobileNetV2) && model.Raw("expansion") is 1L)
        {
            errors.Add(inner.At.Error($"{path}.inner_widths: with expansion 1 a block has no expand conv, so no inner width of its own; drop inner_widths"));
            return;
        }
        long blocks = model.Get("blocks") is ListValue list
            ? list.Items.Sum(b => b is ScalarValue { Raw: long n } ? n : 0)
            : channels.Items.Count;
        if (inner.Items.Count != blocks)
        {
            errors.Add(inner.At.Error($"{path}.inner_widths: has {inner.Items.Count} entries but the model has {blocks} blocks; give one per block, in order over all stages"));
        }
        for (int i = 0; i < inner.Items.Count; i++)
        {
            if (inner.Items[i] is ScalarValue { Raw: long width } item && width < ResNetLimits.MinWidth)
            {
                errors.Add(item.At.Error($"{path}.inner_widths[{i}]: an inner width must be at least {ResNetLimits.MinWidth} channels, got {width}: {ResNetLimits.MinWidthReason}"));
            }
        }
    }

    private static void CheckNormalization(MapValue? data, List<RecipeError> errors)
    {
        if (data?.Get("mean") is ListValue mean && data.Get("std") is ListValue std && mean.Items.Count != std.Items.Count)
        {
            errors.Add(std.At.Error($"data.std: has {std.Items.Count} entries but data.mean has {mean.Items.Count}"));
        }
    }

    /// <summary>Shifts, flips and CutMix boxes move pixels: CSV rows without data.image_shape are flat features, which
    /// only mixup (a blend of whole samples) can mix.</summary>
    private static void CheckAugmentNeedsImages(MapValue? data, List<RecipeError> errors)
    {
        if (data?.Str("format") != "csv" || data.Find("image_shape") is not null || data.WasInvalid("image_shape") || data.Map("augment") is not { } augment)
        {
            return;
        }
        foreach (var entry in augment.Entries)
        {
            bool movesPixels = entry.Key switch
            {
                "max_shift" => entry.Value is ScalarValue { Raw: long shift } && shift > 0,
                "horizontal_flip" => entry.Value is ScalarValue { Raw: true },
                "cutmix" => true,
                _ => false,
            };
            if (movesPixels)
            {
                errors.Add(entry.KeyAt.Error($"data.augment.{entry.Key}: needs images, but these CSV rows are flat features; set data.image_shape (e.g. [1, 8, 8]) or use mixup only"));
            }
        }
    }

    private static void CheckImageChannels(MapValue? data, List<RecipeError> errors)
    {
        if (data?.Find("channels") is { Value: ScalarValue { Raw: 2L } value })
        {
            errors.Add(value.At.Error("data.channels: must be 1 (grey) or 3 (RGB), got 2"));
        }
    }

    private static void RequireTeacher(MapValue stage, string path, List<RecipeError> errors)
    {
        if (stage.Map("loss") is not { } loss)
        {
            return;
        }
        foreach (string key in Losses.KeysNeeding(LossNeeds.Teacher))
        {
            if (loss.Find(key) is { } entry)
            {
                errors.Add(entry.KeyAt.Error($"{path}.loss.{key}: needs a teacher; add a teacher section or remove {key}"));
            }
        }
    }

    private static void CheckStageNames(MapValue? teacherTrain, IReadOnlyList<MapValue> stages, List<RecipeError> errors)
    {
        var seen = new Dictionary<string, string>();
        if (teacherTrain?.Str("name") is { } teacherName)
        {
            seen[teacherName] = "teacher.train";
        }
        for (int i = 0; i < stages.Count; i++)
        {
            if (stages[i].Find("name") is not { Value: ScalarValue { Raw: string name } value })
            {
                continue;
            }
            if (seen.TryGetValue(name, out var first))
            {
                errors.Add(value.At.Error($"stages[{i}].name: duplicate stage name '{name}' (already used by {first}); stage names must be unique"));
            }
            else
            {
                seen[name] = $"stages[{i}]";
            }
        }
    }

    private static void CheckEarlyStop(MapValue? data, IEnumerable<(MapValue Stage, string Path)> stages, List<RecipeError> errors)
    {
        if (data?.Raw("validation_fraction") is not double fraction || fraction > 0)
        {
            return;
        }
        foreach (var (stage, path) in stages)
        {
            if (stage.Find("early_stop") is { } entry)
            {
                errors.Add(entry.KeyAt.Error($"{path}.early_stop: needs validation data; set data.validation_fraction > 0"));
            }
        }
    }
}
