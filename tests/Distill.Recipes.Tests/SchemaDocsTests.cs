namespace Distill.Recipes.Tests;

public class SchemaDocsTests
{
    private static string ReadDocs()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Distill.sln")))
        {
            dir = dir.Parent;
        }
        Assert.NotNull(dir);
        return File.ReadAllText(Path.Combine(dir.FullName, "docs", "recipes.md")).ReplaceLineEndings("\n");
    }

    [Fact]
    public void DescriptionListsEveryKeyWithTypeAndDefault()
    {
        var lines = RecipeSchema.DescribeDefaults().ReplaceLineEndings("\n").Split('\n');
        string Line(string key) => Assert.Single(lines, l => l.StartsWith(key + " ", StringComparison.Ordinal));

        Assert.Contains("number > 0; default 0.001.", Line("stages[].optimizer.lr"));
        Assert.Contains("one of sgd | adam | adamw; default adam.", Line("stages[].optimizer.name"));
        Assert.Contains("integer in [0, 100000]; default 1.", Line("stages[].epochs"));
        Assert.Contains("integer in [1, 100000]; default 1.", Line("teacher.train.epochs"));
        Assert.Contains("required.", Line("stages[].name"));
        Assert.Contains("default teacher.", Line("teacher.train.name"));
        Assert.Contains("mapping; required when data.format is idx.", Line("data.train"));
        Assert.Contains("path to an existing file (relative to the recipe's folder); required.", Line("data.train.images"));
        Assert.Contains("default true; only when data.format is csv.", Line("data.header"));
        Assert.Contains("default false for every block; only when student.model.arch is cnn.", Line("student.model.depthwise"));
        Assert.DoesNotContain(lines, l => l.StartsWith("teacher.train.loss.kd", StringComparison.Ordinal));
        Assert.Equal(RecipeSchema.KeyPaths().Count, lines.Count(l => RecipeSchema.KeyPaths().Any(k => l.StartsWith(k + " ", StringComparison.Ordinal))));
    }

    [Fact]
    public void DocsContainTheSchemaDescriptionVerbatim()
    {
        string docs = ReadDocs();
        string description = RecipeSchema.DescribeDefaults().ReplaceLineEndings("\n");
        Assert.True(docs.Contains(description, StringComparison.Ordinal),
            "docs/recipes.md is out of date: paste the output of RecipeSchema.DescribeDefaults() (distill recipes show --defaults) into it");
    }

    [Fact]
    public void DocsContainTheLimitsTableVerbatim()
    {
        string docs = ReadDocs();
        string table = RecipeLimits.Describe().ReplaceLineEndings("\n");
        Assert.True(docs.Contains(table, StringComparison.Ordinal),
            "docs/recipes.md is out of date: paste the output of RecipeLimits.Describe() into its Limits section");
    }

    [Fact]
    public void DocsMentionEveryKey()
    {
        string docs = ReadDocs();
        Assert.All(RecipeSchema.KeyPaths(), key => Assert.Contains(key, docs));
    }

    [Fact]
    public void DocsExampleRecipeIsValid()
    {
        string docs = ReadDocs();
        const string start = "```yaml\n";
        int from = docs.IndexOf(start, StringComparison.Ordinal);
        Assert.True(from >= 0, "docs/recipes.md has no yaml example");
        from += start.Length;
        string example = docs[from..docs.IndexOf("```", from, StringComparison.Ordinal)];

        // The example's data paths are relative to configs/; point them at the installed Fashion-MNIST files.
        var plan = RecipeLoader.LoadText(example.Replace("../data/fashion-mnist-subset/", "fashion-mnist/"), "example.yaml", Recipes.DataDir);
        Assert.NotEmpty(plan.Stages);
    }
}
