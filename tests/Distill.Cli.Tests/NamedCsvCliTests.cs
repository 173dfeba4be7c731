namespace Distill.Cli.Tests;

/// <summary>CSV read by column name: bad tables exit 2 naming the file, row and column, and leave no run.</summary>
public sealed class NamedCsvCliTests
{
    private static CliResult Train(TempDir dir, string csv, string label)
    {
        File.WriteAllText(dir.File("table.csv"), csv);
        File.WriteAllText(dir.File("recipe.yaml"), $$"""
            name: named
            data:
              format: csv
              train_csv: table.csv
              features: [sepal, petal]
              label_column: {{label}}
              labels: name
            student:
              model: { arch: mlp, hidden: [4] }
            stages:
              - name: s
            """);
        return CliProcess.Run("train", dir.File("recipe.yaml"), "--store", dir.File("store"));
    }

    private static void AssertRefused(TempDir dir, CliResult result, string message)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
        Assert.Equal("[]", CliProcess.Run("runs", "list", "--store", dir.File("store"), "--json").StdOut.Trim());
    }

    [Fact]
    public void Absent_label_column_and_missing_value_exit_2()
    {
        const string Table = "sepal,petal,species\n1,2,a\n3,4,b\n5,6,a\n7,8,b\n9,10,a\n11,12,b\n";
        using (var dir = new TempDir())
            AssertRefused(dir, Train(dir, Table, "kind"), $"{dir.File("table.csv")}: no label column named 'kind' in the header (sepal, petal, species)");
        using (var dir = new TempDir())
            AssertRefused(dir, Train(dir, Table.Replace("5,6,a", "5,,a", StringComparison.Ordinal), "species"), $"{dir.File("table.csv")}: row 3, column 'petal': missing value");
    }
}
