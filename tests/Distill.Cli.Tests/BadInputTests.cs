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
    public void Misspelt_loss_term_is_exit_2_at_its_line_and_column_with_the_closest_name()
    {
        using var dir = new TempDir();
        // The stage's extra line is line 13; "    loss: { " is 12 characters, so the key starts at column 13.
        var result = Train(dir, DigitsRecipe(Data("digits/digits.csv.gz"), "    loss: { kdd: {} }"));
        AssertBadInput(result, "recipe.yaml:13:13:", "stages[0].loss: unknown key 'kdd' (did you mean 'kd'?)");
        AssertNoRuns(dir);
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
        AssertBadInput(wrongTeacher, studentCheckpoint, "an mlp with hidden [8]", "an mlp with hidden [64, 32]");

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

    [Fact]
    public void Set_index_too_large_for_any_list_is_out_of_range_at_the_argument()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("recipe.yaml"), DigitsRecipe(Data("digits/digits.csv.gz")));
        var result = CliProcess.Run("train", dir.File("recipe.yaml"), "--store", dir.File("store"), "--set", "stages[99999999999].epochs=3");
        AssertBadInput(result, "<command line>:--set 1:1:1: stages[99999999999]: index out of range; the recipe has 1 item(s) (counting from 0)");
        Assert.DoesNotContain("Int32", result.StdErr);
        var huge = CliProcess.Run("train", dir.File("recipe.yaml"), "--store", dir.File("store"), "--set", "stages[99999999999999999999999].epochs=3");
        AssertBadInput(huge, "<command line>:--set 1:1:1: stages[99999999999999999999999]: index out of range");
        AssertNoRuns(dir);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Read_only_store_refuses_changes_naming_its_database_and_still_lists_runs()
    {
        using var dir = new TempDir();
        string store = dir.File("store");
        var created = CliProcess.Run("experiments", "create", "first", "--store", store);
        Assert.True(created.ExitCode == 0, created.ToString());
        string database = Path.Combine(store, "distill.db");
        File.WriteAllText(dir.File("recipe.yaml"), DigitsRecipe(Data("digits/digits.csv.gz")));
        // Everything readable, the folder writable (SQLite writes its -shm beside the database), the database not:
        // SQLite then opens it read-only instead of failing, and every write failed with "SQLite Error 8" and exit 1.
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(store, (UnixFileMode)0b111_111_111);
        File.SetUnixFileMode(database, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var train = CliProcess.RunSubjectToPermissions("train", dir.File("recipe.yaml"), "--store", store);
        AssertBadInput(train, $"{database}: the run store is read-only for this user, so it cannot start a run");
        Assert.DoesNotContain("SQLite Error", train.StdErr);
        Assert.False(Directory.Exists(Path.Combine(store, "artifacts")));
        var create = CliProcess.RunSubjectToPermissions("experiments", "create", "second", "--store", store);
        AssertBadInput(create, $"{database}: the run store is read-only for this user, so it cannot create an experiment");
        var list = CliProcess.RunSubjectToPermissions("experiments", "list", "--store", store, "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("\"first\"", list.StdOut);
    }

    [Fact]
    public void Recipe_path_that_is_a_folder_says_so()
    {
        using var dir = new TempDir();
        var result = CliProcess.Run("train", dir.Path, "--store", dir.File("store"));
        AssertBadInput(result, $"{dir.Path}: is a folder; give the recipe file (.yaml) to use");
        Assert.DoesNotContain("denied", result.StdErr);
    }

    [Fact]
    public void Checkpoint_length_field_of_2_to_the_63_is_reported_without_a_negative_byte_count()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("recipe.yaml"), DigitsRecipe(Data("digits/digits.csv.gz")));
        // "DSTLCKPT", format version 1, then the payload length 2^63, which a signed read takes for -2^63. The file has
        // 8 + 4 + 8 + 100 = 120 bytes; without the 20-byte preamble and the 32-byte hash, 68 bytes of contents.
        var checkpoint = dir.File("model.ckpt");
        File.WriteAllBytes(checkpoint, [.. "DSTLCKPT"u8.ToArray(), .. BitConverter.GetBytes(1u), .. BitConverter.GetBytes(1UL << 63), .. new byte[100]]);
        var result = CliProcess.Run("eval", checkpoint, "--data", dir.File("recipe.yaml"));
        AssertBadInput(result, $"{checkpoint}: checkpoint is truncated or damaged: its length field says 9223372036854775808 bytes of contents, " +
            "but the file (120 bytes) holds 68");
        Assert.DoesNotContain("-92233", result.StdErr);
    }

    [Theory]
    [InlineData("'trian': did you mean 'train'?", "trian", "recipe.yaml")]
    [InlineData("'lsit': did you mean 'list'?", "runs", "lsit")]
    [InlineData("'--sett': did you mean '--set'?", "train", "recipe.yaml", "--sett", "seed=1")]
    [InlineData("'--stroe': did you mean '--store'?", "runs", "list", "--stroe", "x")]
    public void Command_and_option_typos_get_a_did_you_mean(string expected, params string[] args)
    {
        var result = CliProcess.Run(args);
        AssertBadInput(result, expected, "Run 'distill --help' for usage.");
    }

    /// <summary>Text from a recipe reaches the terminal escaped: a description with a colour code, a window title
    /// (OSC ... BEL) and a C1 clear-screen (CSI 2J), through runs show, runs compare (table and CSV), and an error.</summary>
    [Fact]
    public void Control_characters_from_a_recipe_are_shown_escaped()
    {
        using var dir = new TempDir();
        const string description = @"evil \u001b[31mRED\u001b]0;pwned\u0007 \u009b2J";
        var recipe = DigitsRecipe(Data("digits/digits.csv.gz")).Replace("seed: 1", "seed: 1\ndescription: \"evil \\e[31mRED\\e]0;pwned\\a \\x9b2J\"", StringComparison.Ordinal);
        var ids = new List<string>();
        // The second run has no description, so that runs compare shows it among the params that differ.
        foreach (string text in new[] { recipe, DigitsRecipe(Data("digits/digits.csv.gz")) })
        {
            var train = Train(dir, text);
            Assert.True(train.ExitCode == 0, train.ToString());
            ids.Add(System.Text.RegularExpressions.Regex.Match(train.StdOut, "run ([0-9a-f]{32})").Groups[1].Value);
        }
        string store = dir.File("store");
        var show = CliProcess.Run("runs", "show", ids[0], "--store", store);
        var compare = CliProcess.Run("runs", "compare", ids[0], ids[1], "--store", store);
        var csv = CliProcess.Run("runs", "compare", ids[0], ids[1], "--store", store, "--csv");
        var json = CliProcess.Run("runs", "show", ids[0], "--store", store, "--json");
        foreach (var result in new[] { show, compare, csv })
        {
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains(description, result.StdOut);
            Assert.DoesNotContain(result.StdOut, c => char.IsControl(c) && c is not '\n' and not '\r');
        }
        // JSON keeps the exact text (its own escapes).
        Assert.Equal("evil \u001b[31mRED\u001b]0;pwned\u0007 \u009b2J", new RunJsonView(json.StdOut).Tag("description"));

        var error = Train(dir, recipe.Replace("name: bad-input", "name: \"bad\\e[2J\"", StringComparison.Ordinal));
        AssertBadInput(error, "got 'bad\\u001b[2J'");
        Assert.DoesNotContain(error.StdErr, c => char.IsControl(c) && c is not '\n' and not '\r');
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
