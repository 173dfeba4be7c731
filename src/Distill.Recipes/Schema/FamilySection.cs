using Distill.Core;
using Distill.Core.Sweeps;
using Distill.Recipes.Targets;

namespace Distill.Recipes.Schema;

/// <summary>Checks the family: section at its lines (distinct variant names, an ONNX target to measure the family on,
/// a classifier) and binds it to Core's <see cref="FamilySettings"/>. Whether each variant's values make a valid recipe
/// is checked by <see cref="SweepSpace.CheckFamily"/>, which loads the recipe once per variant.</summary>
internal static class FamilySection
{
    public static void Check(MapValue root, string folder, List<RecipeError> errors)
    {
        if (root.Find("family") is not { Value: MapValue family } entry)
            return;
        if (root.Map("data")?.Str("format") == "text")
            errors.Add(entry.KeyAt.Error("family: a family is made of classifiers (its manifest and policy compare test accuracy); data.format text trains a language model"));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        bool sharedTeacher = family.Raw("share_teacher") is true && root.Map("teacher")?.Get("train") is not null;
        var variants = family.List("variants").OfType<MapValue>().ToList();
        for (int i = 0; i < variants.Count; i++)
        {
            if (variants[i].Get("name") is ScalarValue { Raw: string name } value && !seen.Add(name))
                errors.Add(value.At.Error($"family.variants: two variants are named '{name}'; give each its own name"));
            // The later variants load the first one's teacher, so a teacher value of theirs would be ignored.
            if (sharedTeacher && i > 0 && variants[i].Map("set")?.Entries.FirstOrDefault(e => e.Key.StartsWith("teacher", StringComparison.Ordinal)) is { } teacherKey)
                errors.Add(teacherKey.KeyAt.Error($"family.variants[{i}].set.{teacherKey.Key}: the variants after the first load its teacher (share_teacher: true); set share_teacher: false to give each variant its own teacher"));
        }
        if (!root.List("export").OfType<MapValue>().Any(item => IsOnnx(item, folder)))
            errors.Add(entry.KeyAt.Error("family: the family manifest is measured in ONNX Runtime, so export: needs an ONNX target (e.g. - target: x86-vnni)"));
    }

    private static bool IsOnnx(MapValue item, string folder)
    {
        if (item.Get("target") is not ScalarValue { Raw: string target })
            return false;
        try
        {
            return TargetCatalog.Resolve(target, folder).Format.Name == "onnx";
        }
        catch (InvalidInputException)
        {
            return false; // reported at its line by ExportChecks
        }
    }

    public static FamilySettings? Bind(MapValue root)
    {
        if (root.Map("family") is not { } family)
            return null;
        return new FamilySettings
        {
            Variants = family.List("variants").Cast<MapValue>().Select(variant => new FamilyVariant(
                (string)variant.Raw("name")!,
                variant.Map("set")?.Entries.Select(e => new TrialValue(e.Key, (string)((ScalarValue)e.Value).Raw)).ToList() ?? [])).ToList(),
            ShareTeacher = (bool)family.Raw("share_teacher")!,
            Parallel = (int)(long)family.Raw("parallel")!,
        };
    }
}
