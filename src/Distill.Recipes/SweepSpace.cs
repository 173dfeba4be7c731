using Distill.Core;
using Distill.Core.Sweeps;
using Distill.Recipes.Schema;

namespace Distill.Recipes;

/// <summary>Reads the search space of `distill sweep` from the command line (--grid key=v1,v2, --random key=uniform(a,b))
/// and checks every trial against the recipe, so that a bad key or value is refused before anything runs.</summary>
public static class SweepSpace
{
    /// <summary>"key=v1,v2,…" (commas inside brackets or quotes do not split).</summary>
    public static GridAxis ParseGrid(string argument)
    {
        var (key, text) = KeyAndValue(argument, "--grid", "seed=1,2,3");
        var values = ValueList.Split(text);
        if (values.Count == 0)
            throw new InvalidInputException($"--grid {key}: the value list is empty; give at least one value, e.g. {key}=1,2");
        if (values.Any(v => v.Length == 0))
            throw new InvalidInputException($"--grid {argument}: an empty value between commas; remove the extra comma");
        return new GridAxis(key, values);
    }

    /// <summary>"key=uniform(a,b)", "key=loguniform(a,b)" or "key=choice(v1,v2,…)".</summary>
    public static RandomAxis ParseRandom(string argument)
    {
        var (key, text) = KeyAndValue(argument, "--random", "stages[0].optimizer.lr=loguniform(1e-4,1e-2)");
        try
        {
            return new RandomAxis(key, Distribution.Parse(text));
        }
        catch (FormatException e)
        {
            throw new InvalidInputException($"--random {key}: {e.Message}", e);
        }
    }

    private static (string Key, string Value) KeyAndValue(string argument, string option, string example)
    {
        int equals = argument.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
            throw new InvalidInputException($"{option}: expected key=values (e.g. {example}), got '{argument}'");
        return (argument[..equals].Trim(), argument[(equals + 1)..]);
    }

    /// <summary>
    /// Loads the recipe with each trial's values as --set overrides; the first trial that the recipe refuses is reported
    /// with its key named as the sweep option that gave it (--grid key, --random key, or sweep.grid.key of the recipe).
    /// </summary>
    /// <param name="fromRecipe">Keys whose values come from the recipe's sweep: section rather than the command line.</param>
    public static void Check(string recipePath, IReadOnlyList<SweepTrial> trials, ISet<string> gridKeys, ISet<string> fromRecipe,
        RunReferenceLookup? references = null)
    {
        ArgumentNullException.ThrowIfNull(trials);
        var checkedOverrides = new HashSet<string>(StringComparer.Ordinal);
        foreach (var trial in trials)
        {
            if (!checkedOverrides.Add(string.Join('\n', trial.Overrides)))
                continue;
            try
            {
                RecipeLoader.Load(recipePath, trial.Overrides, references: references);
            }
            catch (RecipeException e)
            {
                throw new RecipeException(e.Errors.Select(error => Rename(error, trial, gridKeys, fromRecipe)).ToList());
            }
        }
    }

    /// <summary>Loads the recipe with each variant's set: values as --set overrides; the first variant the recipe refuses is
    /// reported with the value named by its place in the family: section (family.variants[1].set.student.model.channels).</summary>
    /// <param name="overrides">The command line's --set values, applied before each variant's.</param>
    public static void CheckFamily(string recipePath, FamilySettings family, IReadOnlyList<string> overrides, RunReferenceLookup? references = null)
    {
        ArgumentNullException.ThrowIfNull(family);
        ArgumentNullException.ThrowIfNull(overrides);
        for (int v = 0; v < family.Variants.Count; v++)
        {
            var values = family.Variants[v].Values;
            try
            {
                RecipeLoader.Load(recipePath, [.. overrides, .. values.Select(x => $"{x.Key}={x.Value}")], references: references);
            }
            catch (RecipeException e)
            {
                throw new RecipeException(e.Errors.Select(error =>
                {
                    int i = Enumerable.Range(0, values.Count).FirstOrDefault(i => error.File == Overrides.FileOf(overrides.Count + i + 1), -1);
                    return i < 0 ? error : SweepError($"family.variants[{v}].set.{values[i].Key} of the recipe", $"{error.Message} (value '{values[i].Value}')");
                }).ToList());
            }
        }
    }

    /// <summary>An error in a trial's override, with the sweep option that gave the value in place of the --set position.</summary>
    private static RecipeError Rename(RecipeError error, SweepTrial trial, ISet<string> gridKeys, ISet<string> fromRecipe)
    {
        for (int i = 0; i < trial.Values.Count; i++)
        {
            if (error.File != Overrides.FileOf(i + 1))
                continue;
            var value = trial.Values[i];
            string kind = gridKeys.Contains(value.Key) ? "grid" : "random";
            string where = fromRecipe.Contains(value.Key) ? $"sweep.{kind}.{value.Key} of the recipe" : $"--{kind} {value.Key}";
            return SweepError(where, $"{error.Message} (value '{value.Value}')");
        }
        return error;
    }

    /// <summary>A RecipeError that prints as "where: message", without a line and column.</summary>
    private static RecipeError SweepError(string where, string message) => new(where, 0, 0, message);
}
