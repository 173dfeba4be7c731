using System.IO.Compression;

namespace Distill.Cli.Tests;

/// <summary>Bad input gets a clear message naming the file (and line), exit code 2, no stack trace,
/// and leaves no run behind.</summary>
public sealed class BadInputTests
{
    private static string Data(string relative) => Path.Combine(CliProcess.RepoRoot, "data", relative);

    private static string DigitsRecipe(string csvPath, string stageExtra = "") => $"""
        name: bad-input
        seed: 1
        data:
          format: csv
          train_csv: {csvPath}
          header: false
          scale: 16
        student:
          model: {"{"} arch: mlp, hidden: [8] {"}"}
        stages:
          - name: only
            epochs: 1
        {stageExtra}
        """;

    private static string IdxRecipe(string trainImages, string trainLabels) => $"""
        name: bad-idx
        data:
          format: idx
          train: {"{"} images: {trainImages}, labels: {trainLabels} {"}"}
          test: {"{"} images: {Data("fashion-mnist-subset/t10k-images-idx3-ubyte.gz")}, labels: {Data("fashion-mnist-subset/t10k-labels-idx1-ubyte.gz")} {"}"}
        student:
          model: {"{"} arch: mlp, hidden: [8] {"}"}
        stages:
          - name: only
            epochs: 1
        """;

    private static CliResult Train(TempDir dir, string recipeText)
    {
        var recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, recipeText);
        return CliProcess.Run("train", recipe, "--store", dir.File("store"));
    }

    private static void AssertBadInput(CliResult result, params string[] expectedInMessage)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        foreach (var expected in expectedInMessage)
            Assert.Contains(expected, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
    }

    private static void AssertNoRuns(TempDir dir)
    {
        var list = CliProcess.Run("runs", "list", "--store", dir.File("store"), "--json");
        Assert.Equal("[]", list.StdOut.Trim());
    }

    [Fact]
    public void Yaml_syntax_error_names_file_and_line()
    {
        using var dir = new TempDir();
        var result = Train(dir, "name: broken\nseed: [1, 2\nstages: x\n");
        AssertBadInput(result, dir.File("recipe.yaml") + ":");
        Assert.Matches(@"recipe\.yaml:\d+:\d+:", result.StdErr);
    }

    [Fact]
    public void Unknown_key_suggests_the_right_one()
    {
        using var dir = new TempDir();
        var result = Train(dir, DigitsRecipe(Data("digits/digits.csv.gz")).Replace("epochs: 1", "epoch: 1", StringComparison.Ordinal));
        AssertBadInput(result, "recipe.yaml:12:", "epochs");
    }

    [Fact]
    public void Wrong_type_and_negative_epochs_are_both_reported_with_lines()
    {
        using var dir = new TempDir();
        var text = DigitsRecipe(Data("digits/digits.csv.gz"), "    batch_size: lots")
            .Replace("epochs: 1", "epochs: -3", StringComparison.Ordinal);
        var result = Train(dir, text);
        AssertBadInput(result, "recipe.yaml:12:", "recipe.yaml:13:", "lots");
    }

    [Fact]
    public void Missing_data_file_is_named()
    {
        using var dir = new TempDir();
        var result = Train(dir, DigitsRecipe(dir.File("nowhere.csv")));
        AssertBadInput(result, "nowhere.csv", "recipe.yaml:5:");
    }

    [Fact]
    public void Truncated_idx_file_is_named_and_no_run_is_left_behind()
    {
        using var dir = new TempDir();
        var truncated = dir.File("train-labels-idx1-ubyte");
        var labels = ReadGzip(Data("fashion-mnist-subset/train-labels-idx1-ubyte.gz"));
        File.WriteAllBytes(truncated, labels[..5000]);
        var result = Train(dir, IdxRecipe(Data("fashion-mnist-subset/train-images-idx3-ubyte.gz"), truncated));
        AssertBadInput(result, truncated, "truncated");
        AssertNoRuns(dir);
    }

    [Fact]
    public void Idx_file_with_wrong_magic_is_named()
    {
        using var dir = new TempDir();
        var wrong = dir.File("train-labels-idx1-ubyte");
        var labels = ReadGzip(Data("fashion-mnist-subset/train-labels-idx1-ubyte.gz"));
        labels[2] = 0x0D;
        File.WriteAllBytes(wrong, labels);
        var result = Train(dir, IdxRecipe(Data("fashion-mnist-subset/train-images-idx3-ubyte.gz"), wrong));
        AssertBadInput(result, wrong, "magic");
    }

    [Fact]
    public void Csv_with_ragged_row_names_the_line()
    {
        using var dir = new TempDir();
        var csv = dir.File("digits.csv");
        var lines = ReadGzipLines(Data("digits/digits.csv.gz"));
        lines[41] = string.Join(',', lines[41].Split(',')[..50]);
        File.WriteAllLines(csv, lines);
        var result = Train(dir, DigitsRecipe(csv));
        AssertBadInput(result, csv, "42");
        AssertNoRuns(dir);
    }

    [Fact]
    public void Csv_with_non_numeric_cell_names_the_line()
    {
        using var dir = new TempDir();
        var csv = dir.File("digits.csv");
        var lines = ReadGzipLines(Data("digits/digits.csv.gz"));
        var cells = lines[99].Split(',');
        cells[10] = "seven";
        lines[99] = string.Join(',', cells);
        File.WriteAllLines(csv, lines);
        var result = Train(dir, DigitsRecipe(csv));
        AssertBadInput(result, csv, "100", "seven");
    }

    [Fact]
    public void Teacher_checkpoint_of_another_architecture_and_truncated_checkpoints_are_refused()
    {
        using var dir = new TempDir();
        var first = Train(dir, DigitsRecipe(Data("digits/digits.csv.gz")));
        Assert.True(first.ExitCode == 0, first.ToString());
        var runId = System.Text.RegularExpressions.Regex.Match(first.StdOut, "run ([0-9a-f]{32})").Groups[1].Value;
        var studentCheckpoint = Path.Combine(dir.File("store"), "artifacts", runId, "models", "student.ckpt");

        // The mlp [8] student of that run, offered as the teacher of a recipe that wants an mlp [64, 32].
        var recipe = DigitsRecipe(Data("digits/digits.csv.gz")).Replace("student:", $$"""
            teacher:
              model: { arch: mlp, hidden: [64, 32] }
              checkpoint: {{studentCheckpoint}}
            student:
            """, StringComparison.Ordinal);
        var wrongTeacher = Train(dir, recipe);
        AssertBadInput(wrongTeacher, studentCheckpoint, "mlp hidden [8]", "mlp hidden [64, 32]");

        var truncated = dir.File("truncated.ckpt");
        var bytes = File.ReadAllBytes(studentCheckpoint);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var eval = CliProcess.Run("eval", truncated, "--data", dir.File("recipe.yaml"));
        AssertBadInput(eval, truncated, "truncated");
    }

    [Fact]
    public void Unknown_run_id_is_bad_input()
    {
        using var dir = new TempDir();
        var result = CliProcess.Run("runs", "show", "ffffffff", "--store", dir.File("store"));
        AssertBadInput(result, "ffffffff");
    }

    private static byte[] ReadGzip(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        return memory.ToArray();
    }

    private static string[] ReadGzipLines(string path) =>
        System.Text.Encoding.ASCII.GetString(ReadGzip(path)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
