namespace Distill.Recipes.Tests;

/// <summary>Every recipe shipped in configs/ is valid (the full Fashion-MNIST ones need Debian's
/// dataset-fashion-mnist, which .ci/run installs). configs/targets holds target profiles, not recipes:
/// TargetProfileTests checks those.</summary>
public class ShippedConfigsTests
{
    public static TheoryData<string> Configs()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Distill.sln")))
            dir = dir.Parent;
        var configs = Path.Combine(dir!.FullName, "configs");
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(configs, "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                     .Where(f => !Path.GetRelativePath(configs, f).StartsWith("targets", StringComparison.Ordinal)))
            data.Add(Path.GetRelativePath(configs, file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Shipped_recipe_is_valid_with_an_empty_store(string relativePath)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(dir!.FullName, "Distill.sln")))
            dir = dir.Parent;
        string store = Path.Combine(Path.GetTempPath(), "distill-no-store-" + Guid.NewGuid().ToString("N"));
        var lookup = new RunReferenceLookup { StoreDirectory = _ => store, MissingRunIsNote = true };
        var plan = ImageFolderRecipe(Path.Combine(dir.FullName, "configs", relativePath), lookup)
            ?? RecipeLoader.Load(Path.Combine(dir.FullName, "configs", relativePath), references: lookup);
        Assert.NotEmpty(plan.Stages);
        // Recipes that build on another recipe's run name it with runs:/<name>/…; on a fresh clone that is a note
        // pointing at the shipped recipe that makes that run (kd.yaml, or the method table's teacher recipes).
        string path = Path.Combine(dir.FullName, "configs", relativePath);
        var referenced = File.ReadLines(path).Where(line => !line.TrimStart().StartsWith('#'))
            .SelectMany(line => System.Text.RegularExpressions.Regex.Matches(line, @"runs:/([\w.-]+)/")).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Equal(referenced.Count > 0, lookup.Notes.Count > 0);
        Assert.All(lookup.Notes, note =>
        {
            var named = System.Text.RegularExpressions.Regex.Match(note.Message, @"run (\S+\.yaml) first: no (?:FINISHED )?run (?:named )?([\w.-]+) ");
            Assert.True(named.Success, note.Message);
            Assert.Contains(named.Groups[2].Value, referenced);
            Assert.Contains($"name: {named.Groups[2].Value}\n", File.ReadAllText(named.Groups[1].Value));
        });
        Assert.False(Directory.Exists(store));
    }

    /// <summary>An image-folder recipe reads a folder that a command writes first (`distill data image-folder`, as the
    /// recipe says), which a fresh clone does not have: it is validated from a scratch folder of the same layout, with
    /// its train_folder and test_folder made there. Null for other recipes.</summary>
    private static Core.RunPlan? ImageFolderRecipe(string path, RunReferenceLookup lookup)
    {
        string text = File.ReadAllText(path);
        if (!text.Contains("format: image_folder", StringComparison.Ordinal))
            return null;
        string scratch = Path.Combine(Path.GetTempPath(), "distill-image-folder-recipe-" + Guid.NewGuid().ToString("N"));
        string recipeFolder = Path.Combine(scratch, "configs", Path.GetFileName(Path.GetDirectoryName(path))!);
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text, @"(?m)^\s*(?:train|test)_folder:\s*(\S+)"))
            Directory.CreateDirectory(Path.GetFullPath(Path.Combine(recipeFolder, m.Groups[1].Value)));
        return RecipeLoader.LoadText(text, path, recipeFolder, references: lookup);
    }
}
