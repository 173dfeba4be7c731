using System.Diagnostics;
using Distill.Core;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>Sizes are checked while the recipe is read (<see cref="RecipeLimits"/>), so that a recipe too large to
/// run, or with values MLflow refuses, fails at its line before any data is loaded or any run created.
/// <see cref="Recipes.Minimal"/> has 8 lines; its student model is the flow mapping at 6:10.</summary>
public class LimitTests
{
    [Fact]
    public void DescriptionLongerThanAnMlflowParamIsRefusedAtItsLine()
    {
        // The description is a run param (MLflow: at most 6,000 characters) and the run's note (at most 8,000).
        string yaml = Minimal.Replace("name: t\n", "name: t\ndescription: DESC\n");
        Assert.Equal(6000, Load(yaml.Replace("DESC", new string('d', 6000))).Description!.Length);

        var error = Single(yaml.Replace("DESC", new string('d', 6001)));
        // "description: " is 13 characters, so the value starts at column 14 of line 2.
        AssertAt(error, 2, 14, "description: is 6,001 characters long; at most 6,000");
        Assert.Contains("mlflow.note.content", error.Message);
        Assert.True(error.Message.Length < 400, "the message quotes the whole description: " + error.Message.Length);
    }

    [Fact]
    public void EveryOtherStringIsLimitedToAnMlflowParamValue()
    {
        var error = Single(Minimal + "\ntracking: { experiment: " + new string('e', 6001) + " }");
        AssertAt(error, 9, 25, "tracking.experiment: is 6,001 characters long; at most 6,000");
    }

    [Fact]
    public void NamesAreLimitedToWhatMetricAndTagKeysCanHold()
    {
        AssertAt(Single(Minimal.Replace("name: t\n", "name: " + new string('n', 101) + "\n")), 1, 7,
            "name: is 101 characters long; at most 100");
        AssertAt(Single(Minimal.Replace("  - name: s", "  - name: " + new string('s', 101))), 8, 11,
            "stages[0].name: is 101 characters long; at most 100");
    }

    [Fact]
    public void ModelListPastItsLimitIsRefusedWholeAtTheList()
    {
        string hidden = "[" + string.Join(", ", Enumerable.Repeat("1", 65)) + "]";
        var error = Single(Minimal.Replace("hidden: [32]", "hidden: " + hidden));
        // "  model: { arch: mlp, hidden: " is 30 characters: the list starts at 6:31.
        AssertAt(error, 6, 31, "student.model.hidden: has 65 items; at most 64 (model depth)");
        Assert.Equal(64, Load(Minimal.Replace("hidden: [32]", "hidden: [" + string.Join(", ", Enumerable.Repeat("1", 64)) + "]")).Student.Model.Hidden.Length);
    }

    [Fact]
    public void HugeListFromTheCommandLineIsRefusedQuicklyWithoutLookingAtItsItems()
    {
        // A --set argument can hold about 64,000 items (Linux limits one argument to 128 KiB); the file 1 MiB.
        string hidden = "student.model.hidden=[" + string.Join(",", Enumerable.Repeat("1", 60_000)) + "]";
        var clock = Stopwatch.StartNew();
        var error = Single(Minimal, hidden);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal("<command line>:--set 1", error.File);
        Assert.Equal("student.model.hidden: has 60,000 items; at most 64 (model depth)", error.Message);
    }

    [Fact]
    public void AnyOtherListIsLimitedToAThousandItems()
    {
        string patterns = "[" + string.Join(", ", Enumerable.Range(0, 1001).Select(i => $"l{i}")) + "]";
        var error = Single(Minimal + "\n    prune: { sparsity: 0.5, layers: " + patterns + " }");
        // "    prune: { sparsity: 0.5, layers: " is 36 characters.
        AssertAt(error, 9, 37, "stages[0].prune.layers: has 1,001 items; at most 1,000");
    }

    [Fact]
    public void ListWrittenOutLongerThanAnMlflowParamIsRefused()
    {
        // 600 patterns of 11 characters: under the item limit, but written out as one param, "[p000000000x, …]",
        // they are 600·11 + 599·2 (", ") + 2 = 7,800 characters.
        string patterns = "[" + string.Join(", ", Enumerable.Range(0, 600).Select(i => $"p{i:D9}x")) + "]";
        var error = Single(Minimal + "\n    prune: { sparsity: 0.5, exclude: " + patterns + " }");
        AssertAt(error, 9, 38, "stages[0].prune.exclude: is 7,800 characters long written out as one value ([a, b, …]); at most 6,000");
    }

    [Fact]
    public void TooManyStagesAreRefused()
    {
        string stages = string.Concat(Enumerable.Range(0, 101).Select(i => $"\n  - name: s{i}"));
        var error = Single(Minimal.Replace("\n  - name: s", stages));
        AssertAt(error, 8, 3, "stages: has 101 items; at most 100");
    }

    [Theory]
    [InlineData("\n    batch_size: 65537", 9, 17, "stages[0].batch_size: must be in [1, 65536], got 65537")]
    [InlineData("\n    epochs: 100001", 9, 13, "stages[0].epochs: must be in [0, 100000], got 100001")]
    public void TrainingSizesHaveCeilings(string stageLine, int line, int column, string message)
    {
        var error = Single(Minimal + stageLine);
        AssertAt(error, line, column, message);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void LayerWidthHasACeiling()
    {
        var error = Single(Minimal.Replace("{ arch: mlp, hidden: [32] }", "{ arch: cnn, channels: [8, 65537] }"));
        // "  model: { arch: cnn, channels: [8, " is 36 characters.
        AssertAt(error, 6, 37, "student.model.channels[1]: must be in [1, 65536], got 65537");
    }

    [Fact]
    public void ModelAboveTheParameterCeilingIsRefusedAtItsModelBeforeTheDataIsKnown()
    {
        // Two hidden layers of 20,000 units: 20,000 x 20,000 weights alone are 400 million parameters, whatever the data.
        var error = Single(Minimal.Replace("hidden: [32]", "hidden: [20000, 20000]"));
        AssertAt(error, 6, 10, "student.model: has at least 400,100,002 parameters");
        Assert.Contains("at most 100,000,000", error.Message);
    }

    [Fact]
    public void ConvTeacherAboveTheParameterCeilingIsRefused()
    {
        // Three 3x3 convs of 8,192 channels: 2 x 8,192² x 9 = 1.2 billion weights.
        string yaml = Minimal.Replace("stages:", "teacher:\n  model: { arch: cnn, channels: [8192, 8192, 8192], pool: [false, false, false] }\n  train: {}\nstages:");
        var error = Single(yaml);
        AssertAt(error, 8, 10, "teacher.model: has at least 1,208,");
    }

    [Fact]
    public void LanguageModelAboveTheParameterCeilingIsRefused()
    {
        const string lm = """
            name: lm
            data: { format: text, path: fashion-mnist/t10k-labels-idx1-ubyte.gz }
            student:
              model: { arch: transformer-lm, layers: 64, d_model: 4096, heads: 8 }
            stages:
              - name: s
            """;
        var error = Single(lm);
        // 64 blocks of 12·4096² weights each: 12.9 billion.
        AssertAt(error, 4, 10, "student.model: has at least 12,");
    }

    [Fact]
    public void ChosenKeysAreLimitedBecauseTheyBecomeParamKeys()
    {
        string yaml = Minimal.Replace("stages:", $"teacher:\n  onnx: fashion-mnist/t10k-labels-idx1-ubyte.gz\n  outputs: {{ taps: {{ {new string('k', 101)}: out }} }}\nstages:");
        var errors = Errors(yaml);
        Assert.Contains(errors, e => e.Line == 9 && e.Message.StartsWith("teacher.outputs.taps: key 'kkk", StringComparison.Ordinal)
            && e.Message.Contains("is 101 characters long; at most 100", StringComparison.Ordinal));
    }

    [Fact]
    public void OnlyTheFirstHundredProblemsAreListed()
    {
        string unknown = string.Concat(Enumerable.Range(0, 150).Select(i => $"\n    zz{i}: 1"));
        var errors = Errors(Minimal + unknown);
        Assert.Equal(101, errors.Count);
        Assert.Equal("stages[0]: unknown key 'zz0'; allowed keys: name, epochs, batch_size, optimizer, schedule, loss, clip_grad_norm, early_stop, cache_teacher, prune, quantize", errors[0].Message);
        Assert.Equal("… and 50 more problems", errors[^1].Message);
    }

    [Fact]
    public void RecipeFileLargerThanOneMebibyteIsRefusedUnparsed()
    {
        using var dir = new TempFolder();
        string path = Path.Combine(dir.Path, "big.yaml");
        string text = Minimal + "\n#" + new string('x', 1 << 20);
        File.WriteAllText(path, text);
        var e = Assert.Throws<InvalidInputException>(() => RecipeLoader.Load(path));
        Assert.Equal($"{path}: the recipe is {text.Length.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes; a recipe file may have at most 1,048,576 bytes (the shipped recipes are a few KB; a larger file is not a recipe)", e.Message);
    }

    [Fact]
    public void EndlessFileIsRefusedAfterReadingOneMebibyte()
    {
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidInputException>(() => RecipeLoader.Load("/dev/zero"));
        Assert.StartsWith("/dev/zero: the recipe is more than 1,048,576 bytes", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public void EveryParamOfAValidRecipeFitsMlflow()
    {
        var plan = Load(Full);
        Assert.All(plan.Params, p => Assert.True(p.Value.Length <= 6000, p.Key));
    }

    private static void AssertAt(RecipeError error, int line, int column, string messageStart)
    {
        Assert.True(error.Line == line && error.Column == column, $"expected {line}:{column}, got {error}");
        Assert.StartsWith(messageStart, error.Message);
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("distill-limits-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
