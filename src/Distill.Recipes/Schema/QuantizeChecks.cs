using Distill.Core.Distillation;

namespace Distill.Recipes.Schema;

/// <summary>Rules of quantize sections across stages: quantisation, once on, stays on, so what later stages
/// ask for must work on a fake-quant student. Layer patterns that match nothing are checked by Core against
/// the model before the run opens, with the same file:line:column.</summary>
internal static class QuantizeChecks
{
    /// <summary>Loss keys of terms that read the student's taps (language-model keys aside: those models are not quantised).</summary>
    private static readonly string[] StudentInternalKeys =
        [.. Losses.Keys.Where(k => k.Term.Needs.HasFlag(LossNeeds.StudentInternals) && !k.Key.LanguageModelsOnly).Select(k => k.Key.Key)];

    public static void Run(IReadOnlyList<MapValue> stages, List<RecipeError> errors)
    {
        string? quantizedAt = null;
        for (int i = 0; i < stages.Count; i++)
        {
            var stage = stages[i];
            string path = $"stages[{i}]";
            var quantize = stage.Find("quantize");
            if (stage.Raw("epochs") is 0L)
            {
                if (quantize is null)
                    errors.Add(stage.Find("epochs")!.KeyAt.Error($"{path}.epochs: 0 epochs trains nothing; only a stage with a quantize section may have 0 (it calibrates instead)"));
                if (stage.Find("prune") is { } prune)
                    errors.Add(prune.KeyAt.Error($"{path}.prune: a stage with 0 epochs calibrates and takes no steps, so it cannot prune"));
            }
            if (quantize is not null)
            {
                if (quantize.Value is MapValue { } section && section.Find("auto") is { Value: MapValue auto } autoEntry
                    && (auto.Get("max_drop") is null) == (auto.Get("size_budget_bytes") is null))
                    errors.Add(autoEntry.KeyAt.Error($"{path}.quantize.auto: give exactly one of max_drop (an accuracy drop) and size_budget_bytes (a size)"));
                if (quantizedAt is not null)
                    errors.Add(quantize.KeyAt.Error($"{path}.quantize: the student is already quantised by {quantizedAt}; quantisation stays on once a stage turns it on"));
                quantizedAt ??= $"{path}.quantize";
            }
            if (quantizedAt is null)
                continue;
            foreach (var key in StudentInternalKeys)
            {
                if (stage.Map("loss")?.Find(key) is { } entry)
                    errors.Add(entry.KeyAt.Error($"{path}.loss.{key}: the student is quantised by {quantizedAt}, and its fake-quant forward pass has no intermediate outputs for a {key} loss"));
            }
            if (stage.Map("prune")?.Find("shrink") is { Value: ScalarValue { Raw: true } } shrink)
                errors.Add(shrink.KeyAt.Error($"{path}.prune.shrink: the student is quantised by {quantizedAt}; shrink in an earlier stage, before quantising"));
        }
    }
}
