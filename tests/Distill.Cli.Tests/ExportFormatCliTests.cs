using Distill.Core.Export;

namespace Distill.Cli.Tests;

/// <summary>The export formats as the command line sees them: the registry's entries, listed by `distill targets list`;
/// a profile naming another format is refused at its line before anything is read or written.</summary>
public sealed class ExportFormatCliTests
{
    [Fact]
    public void Targets_list_names_every_registered_format_with_its_doc()
    {
        var result = CliProcess.Run("targets", "list");
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.StdOut.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal(ExportBackends.Registry.Entries.Select(b => $"format {b.Name}: {b.Doc}"), lines.Where(l => l.StartsWith("format ", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.Contains("│ onnx int8 ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("│ tflite int8 ", StringComparison.Ordinal));
    }

    [Fact]
    public void A_profile_with_an_unknown_format_exits_2_at_its_line_with_the_closest_format()
    {
        using var dir = new TempDir();
        string profile = dir.File("phone.yaml");
        File.WriteAllText(profile, "name: phone\nformat: tflit\nprecision: int8\n");
        // "format: " is 8 characters: the value starts at column 9 of line 2.
        string error = $"{profile}:2:9: format: must be one of onnx | tflite | coreml, got 'tflit' (did you mean 'tflite'?)";

        var export = CliProcess.Run("export", dir.File("student.ckpt"), "--target", profile, "--data", "configs/digits/kd.yaml", "--out", dir.File("out"));
        Assert.Equal(2, export.ExitCode);
        Assert.Contains(error, export.StdErr);
        Assert.Equal("", export.StdOut);
        Assert.False(Directory.Exists(dir.File("out")));

        // In a recipe's export list the profile's own position follows the recipe's.
        File.WriteAllText(dir.File("recipe.yaml"), $"""
            name: bad-format
            data: {"{"} format: csv, train_csv: {Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz")}, header: false, scale: 16 {"}"}
            student:
              model: {"{"} arch: mlp, hidden: [8] {"}"}
            stages:
              - name: only
                epochs: 1
            export:
              - target: phone.yaml
            """);
        var train = CliProcess.Run("train", dir.File("recipe.yaml"), "--store", dir.File("store"));
        Assert.Equal(2, train.ExitCode);
        Assert.Contains($"{dir.File("recipe.yaml")}:9:13: export[0].target: {error}", train.StdErr);
        Assert.False(Directory.Exists(dir.File("store/artifacts")) && Directory.EnumerateFileSystemEntries(dir.File("store/artifacts")).Any());
    }
}
