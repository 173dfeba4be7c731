namespace Distill.Cli.Tests;

/// <summary>`distill export` never writes outside the run's folder or its --out folder: a target profile's name that
/// climbs out (../../../../x) or carries a newline or ESC is refused before anything is written, and --out does not
/// replace a folder holding other files.</summary>
public sealed class ExportSafetyTests
{
    /// <summary>Every file and folder below <paramref name="root"/>, with sizes, to compare before and after.</summary>
    private static List<string> Snapshot(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Select(p => File.Exists(p) ? $"{p} {new FileInfo(p).Length}" : p)
            .Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void Profile_names_that_leave_the_run_folder_or_carry_control_characters_write_nothing_anywhere()
    {
        using var dir = new TempDir();
        var (store, runId, recipe) = TinyDigitsRun.Train(dir);

        // From <store>/artifacts/<id>/exports/, four '..' reach the test's folder and five its parent (the temp folder).
        string escape = $"distill-escape-{Guid.NewGuid():N}";
        string parent = Path.GetDirectoryName(dir.Path)!;
        string[] names = ["../../../../x", $"../../../../../{escape}", @"a\nb", @"a\e[31m", "..", "."];
        for (int i = 0; i < names.Length; i++)
            File.WriteAllText(dir.File($"evil{i}.yaml"), $"name: \"{names[i]}\"\nformat: onnx\nprecision: fp32\n");
        var before = Snapshot(dir.Path);

        for (int i = 0; i < names.Length; i++)
        {
            var result = CliProcess.Run("export", runId, "--target", dir.File($"evil{i}.yaml"), "--data", recipe, "--store", store);
            Assert.True(result.ExitCode == 2, result.ToString());
            // "name: " is 6 characters long: the value is at line 1, column 7.
            Assert.Contains($"{dir.File($"evil{i}.yaml")}:1:7: name: ", result.StdErr);
            Assert.Contains("must be letters, digits", result.StdErr);
            Assert.DoesNotContain(result.StdErr, c => char.IsControl(c) && c is not '\n' and not '\r');
        }
        Assert.Equal(before, Snapshot(dir.Path));
        Assert.False(Path.Exists(Path.Combine(parent, escape)));
        Assert.False(Directory.Exists(Path.Combine(store, "artifacts", runId, "exports")));
    }

    [Fact]
    public void Out_folder_holding_other_files_is_not_replaced()
    {
        using var dir = new TempDir();
        var (store, runId, recipe) = TinyDigitsRun.Train(dir);

        // `--out .` in a project folder used to delete the whole folder when the export was moved into place.
        string project = dir.File("project");
        Directory.CreateDirectory(project);
        File.WriteAllText(Path.Combine(project, "notes.txt"), "keep me");
        var refused = CliProcess.Run("export", runId, "--target", "onnx-fp32", "--data", recipe, "--store", store, "--out", project);
        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains($"{project}: the folder holds other files than an export (notes.txt)", refused.StdErr);
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(project, "notes.txt")));
        Assert.Single(Directory.GetFileSystemEntries(project));

        // An earlier export's folder is replaced, as before.
        string output = dir.File("export");
        foreach (int _ in new[] { 1, 2 })
        {
            var export = CliProcess.Run("export", runId, "--target", "onnx-fp32", "--data", recipe, "--store", store, "--out", output);
            Assert.True(export.ExitCode == 0, export.ToString());
        }
        Assert.Equal(["model.onnx", "model_card.json"], Directory.GetFiles(output).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray());
    }
}
