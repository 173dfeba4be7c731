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
    public void Shipped_recipe_is_valid(string relativePath)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(dir!.FullName, "Distill.sln")))
            dir = dir.Parent;
        var plan = RecipeLoader.Load(Path.Combine(dir.FullName, "configs", relativePath), CheckpointOverrides(relativePath, dir.FullName));
        Assert.NotEmpty(plan.Stages);
    }

    /// <summary>The fashion-mnist prune and QAT recipes start from an earlier kd.yaml run, whose model files the
    /// user passes with --set; any existing file satisfies validation.</summary>
    private static string[] CheckpointOverrides(string relativePath, string root)
    {
        string name = Path.GetFileName(relativePath);
        bool fromKdRun = name.StartsWith("prune-", StringComparison.Ordinal) || name.StartsWith("qat-", StringComparison.Ordinal);
        if (!fromKdRun || !relativePath.StartsWith("fashion-mnist", StringComparison.Ordinal))
            return [];
        string existing = Path.Combine(root, "data", "digits", "digits.csv.gz");
        return [$"student.checkpoint={existing}", $"teacher.checkpoint={existing}"];
    }
}
