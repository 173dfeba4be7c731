using Distill.Core;
using Distill.Core.Export.Targets;
using Distill.Core.Models;
using Distill.Recipes.Targets;

namespace Distill.Recipes.Schema;

/// <summary>Resolves the targets of the recipe's export list (a profile file relative to the recipe's folder,
/// or a profile name); an unknown target, a bad profile, or a profile the recipe's model family (a language model
/// for data.format text, else a classifier) cannot be exported to is an error at the target's line.</summary>
internal static class ExportChecks
{
    public static void Run(MapValue root, string folder, List<RecipeError> errors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        bool text = root.Map("data")?.Str("format") == "text";
        var studentArch = root.Map("student")?.Map("model")?.Str("arch") is { } arch ? Architectures.Registry.Find(arch)?.Arch : null;
        var items = root.List("export").OfType<MapValue>().ToList();
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i].Get("target") is not ScalarValue { Raw: string target } value)
                continue;
            try
            {
                var profile = TargetCatalog.Resolve(target, folder);
                if (text)
                    LanguageModelExport.WeightsFor(profile);
                else
                {
                    ClassifierExport.CheckProfile(profile);
                    if (studentArch is { } model)
                        ClassifierExport.CheckModel(model, profile);
                }
                if (!seen.Add(profile.Name))
                    errors.Add(value.At.Error($"export[{i}].target: target '{profile.Name}' is already exported by an earlier item"));
                if (items[i].Get("latency_runs") is ScalarValue { Raw: long } latency)
                {
                    try
                    {
                        var timed = WithEntryOptions(items[i], profile);
                        if (text)
                            LanguageModelExport.WeightsFor(timed);
                        else
                            ClassifierExport.CheckProfile(timed);
                    }
                    catch (InvalidInputException e)
                    {
                        errors.Add(latency.At.Error($"export[{i}].latency_runs: {e.Message}"));
                    }
                }
            }
            catch (InvalidInputException e)
            {
                errors.Add(value.At.Error($"export[{i}].target: {e.Message}"));
            }
        }
    }

    /// <summary>The profiles of a recipe that passed <see cref="Run"/>.</summary>
    public static IReadOnlyList<TargetProfile> Bind(MapValue root, string folder) =>
        root.List("export").Cast<MapValue>().Select(item =>
        {
            var profile = TargetCatalog.Resolve((string)((ScalarValue)item.Get("target")!).Raw, folder);
            return WithEntryOptions(item, profile);
        }).ToList();

    /// <summary>The profile with what the export entry sets beside its target: verify_samples and latency_runs.</summary>
    private static TargetProfile WithEntryOptions(MapValue item, TargetProfile profile)
    {
        if (item.Get("verify_samples") is ScalarValue { Raw: string samples })
            profile = profile with { VerifySamples = samples == "all" ? VerificationSample.All : long.Parse(samples, System.Globalization.CultureInfo.InvariantCulture) };
        if (item.Get("latency_runs") is ScalarValue { Raw: long runs })
            profile = profile with { LatencyRuns = checked((int)runs) };
        return profile;
    }
}
