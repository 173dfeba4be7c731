using System.Text.RegularExpressions;

namespace Distill.Cli.Tests;

/// <summary>A one-epoch digits run (an mlp [8] student, no teacher) trained into &lt;dir&gt;/store in seconds, for tests
/// that need a finished run; its recipe is &lt;dir&gt;/recipe.yaml.</summary>
public sealed record TinyDigitsRun(string Store, string RunId, string Recipe)
{
    public string RunFolder => Path.Combine(Store, "artifacts", RunId);

    public static TinyDigitsRun Train(TempDir dir)
    {
        string recipe = WriteRecipe(dir);
        string store = dir.File("store");
        var train = CliProcess.Run("train", recipe, "--store", store);
        Assert.True(train.ExitCode == 0, train.ToString());
        return new TinyDigitsRun(store, Regex.Match(train.StdOut, "run ([0-9a-f]{32})").Groups[1].Value, recipe);
    }

    /// <summary>Writes the run's recipe to &lt;dir&gt;/recipe.yaml, with <paramref name="extraYaml"/> (top-level keys) appended.</summary>
    public static string WriteRecipe(TempDir dir, string extraYaml = "")
    {
        string recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, $$"""
            name: tiny
            seed: 1
            data: { format: csv, train_csv: {{Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz")}}, header: false, scale: 16 }
            student:
              model: { arch: mlp, hidden: [8] }
            stages:
              - name: only
                epochs: 1

            """ + extraYaml);
        return recipe;
    }
}
