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
        var plan = RecipeLoader.Load(Path.Combine(dir.FullName, "configs", relativePath), references: lookup);
        Assert.NotEmpty(plan.Stages);
        // The fashion-mnist recipes that build on kd.yaml name its run; on a fresh clone that is a note pointing at kd.yaml.
        bool fromKdRun = relativePath.StartsWith("fashion-mnist", StringComparison.Ordinal)
            && Path.GetFileName(relativePath) is not ("kd.yaml" or "scratch.yaml");
        Assert.Equal(fromKdRun, lookup.Notes.Count > 0);
        Assert.All(lookup.Notes, note => Assert.Contains($"run {Path.Combine(dir.FullName, "configs", "fashion-mnist", "kd.yaml")} first: no run fashion-mnist-kd", note.Message));
        Assert.False(Directory.Exists(store));
    }
}
