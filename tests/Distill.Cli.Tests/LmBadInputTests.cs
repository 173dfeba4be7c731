namespace Distill.Cli.Tests;

/// <summary>Bad input to language-model commands: exit 2 with a message naming the file or key, and no run left
/// behind when the problem is found before training.</summary>
public sealed class LmBadInputTests
{
    private static readonly string Corpus = Path.Combine(CliProcess.RepoRoot, "data", "text", "pride-and-prejudice.txt");

    private static string Recipe(string corpus, string tokenizer, string teacher) => $"""
        name: lm-bad-input
        data: {"{"} format: text, path: {corpus}, tokenizer: {tokenizer}, context: 32, max_train_windows: 64, max_validation_windows: 16 {"}"}
        teacher:
          model: {"{"} arch: transformer-lm, layers: 1, d_model: 32, heads: 2 {"}"}
          {teacher}
        student:
          model: {"{"} arch: transformer-lm, layers: 1, d_model: 16, heads: 2 {"}"}
        stages:
          - name: distil
            epochs: 1
            batch_size: 32
            loss: {"{"} kd: {"{"}{"}"} {"}"}
        """;

    private static CliResult Train(TempDir dir, string recipe)
    {
        var path = dir.File("recipe.yaml");
        File.WriteAllText(path, recipe);
        return CliProcess.Run("train", path, "--store", dir.File("store"), "--threads", "1");
    }

    private static void AssertNoRun(TempDir dir)
    {
        var list = CliProcess.Run("runs", "list", "--store", dir.File("store"), "--json");
        Assert.DoesNotContain("lm-bad-input", list.StdOut);
    }

    [Fact]
    public void Empty_corpus_is_refused_naming_the_file()
    {
        using var dir = new TempDir();
        var empty = dir.File("empty.txt");
        File.WriteAllText(empty, "");
        var result = Train(dir, Recipe(empty, "byte", "train: { epochs: 1 }"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"{empty}: text corpus is empty", result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
        AssertNoRun(dir);
    }

    [Fact]
    public void Binary_corpus_is_refused_naming_the_file_and_offset()
    {
        using var dir = new TempDir();
        var binary = dir.File("corpus.txt");
        File.WriteAllBytes(binary, [.. "Some text, then "u8.ToArray(), 0x00, 0xFF, 0x10]);
        var result = Train(dir, Recipe(binary, "byte", "train: { epochs: 1 }"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"{binary}: not a text file: NUL byte at byte offset 16", result.StdErr);
        AssertNoRun(dir);
    }

    [Fact]
    public void Export_target_a_language_model_cannot_take_is_refused_at_its_line()
    {
        using var dir = new TempDir();
        var result = Train(dir, Recipe(Corpus, "byte", "train: { epochs: 1 }") + "\nexport: [{ target: arm-cortex-a }]\n");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"{dir.File("recipe.yaml")}:13:20: export[0].target:", result.StdErr);
        Assert.Contains("language models export to ONNX only", result.StdErr);
        Assert.Contains("not TFLite", result.StdErr);
        AssertNoRun(dir);
    }

    [Fact]
    public void Char_model_refuses_unknown_characters_and_a_byte_recipe_refuses_it_as_teacher()
    {
        using var dir = new TempDir();
        var first = Train(dir, Recipe(Corpus, "char", "train: { epochs: 1, batch_size: 32 }"));
        Assert.True(first.ExitCode == 0, first.ToString());
        var teacher = Directory.EnumerateFiles(dir.File("store"), "teacher.ckpt", SearchOption.AllDirectories).Single();

        // The corpus has no Cyrillic: the char vocabulary cannot encode it.
        var prompt = CliProcess.Run("generate", teacher, "--prompt", "Elizabeth ж");
        Assert.Equal(2, prompt.ExitCode);
        Assert.Contains("prompt: character 'ж' (U+0436) at character 10 is not in the model's character vocabulary", prompt.StdErr);
        Assert.Equal("", prompt.StdOut);

        using var second = new TempDir();
        var mismatch = Train(second, Recipe(Corpus, "byte", $"checkpoint: {teacher}"));
        Assert.True(mismatch.ExitCode == 2, mismatch.ToString());
        Assert.Contains($"{teacher}: the teacher reads char tokens", mismatch.StdErr);
        Assert.Contains("but data.tokenizer is byte: teacher and student must share one vocabulary", mismatch.StdErr);
        AssertNoRun(second);

        // The same teacher with the recipe's tokenizer set to char distils: its saved vocabulary is used.
        using var third = new TempDir();
        var matching = Train(third, Recipe(Corpus, "char", $"checkpoint: {teacher}"));
        Assert.True(matching.ExitCode == 0, matching.ToString());
    }
}
