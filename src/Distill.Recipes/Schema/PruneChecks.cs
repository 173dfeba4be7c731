namespace Distill.Recipes.Schema;

/// <summary>Rules of a stage's prune section that involve more than one key. What can only be checked
/// against the model (patterns that match nothing, M dividing the input size) is checked by Core before
/// the run opens, with the same file:line:column.</summary>
internal static class PruneChecks
{
    public static void Run(MapValue stage, string path, List<RecipeError> errors)
    {
        if (stage.Map("prune") is not { } prune)
        {
            return;
        }
        string at = path + ".prune";
        if (prune.Raw("n") is long n && prune.Raw("m") is long m && n >= m)
        {
            errors.Add(prune.Find("n")!.KeyAt.Error($"{at}.n: must be less than m ({n}:{m} would keep every weight)"));
        }
        if (prune.Str("method") is { } method && Core.Pruning.PruningMethods.Registry.Find(method) is { OneShotOnly: { } why } oneShot
            && prune.Str("schedule") == "gradual")
        {
            errors.Add(prune.Find("schedule")!.KeyAt.Error($"{at}.schedule: {oneShot.Name} pruning is one_shot ({why})"));
        }
        if (stage.Raw("epochs") is not long epochs)
        {
            return;
        }
        double start = prune.Raw("start_epoch") as double? ?? 0;
        if (start >= epochs)
        {
            errors.Add(prune.Find("start_epoch")!.KeyAt.Error($"{at}.start_epoch: {ScalarSchema.Format(start)} is not before the end of the stage ({epochs} epochs)"));
        }
        if (prune.Raw("end_epoch") is double end)
        {
            var endAt = prune.Find("end_epoch")!.KeyAt;
            if (end > epochs)
            {
                errors.Add(endAt.Error($"{at}.end_epoch: {ScalarSchema.Format(end)} is after the end of the stage ({epochs} epochs)"));
            }
            else if (end <= start)
            {
                errors.Add(endAt.Error($"{at}.end_epoch: must be after start_epoch ({ScalarSchema.Format(start)})"));
            }
        }
    }
}
