using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>Every error class, with the exact position it must point at. Line/column arithmetic is
/// spelled out next to each case: <see cref="Recipes.Minimal"/> has 8 lines, its stage mapping starts at 8:5.</summary>
public class RecipeErrorTests
{
    private const string CheckpointTeacher = "teacher:\n  model: { arch: mlp }\n  checkpoint: fashion-mnist/t10k-labels-idx1-ubyte.gz\nstages:";

    /// <summary>Minimal with a teacher loaded from a checkpoint: lines 7-9 are the teacher, the stage starts at 11:5.</summary>
    private static readonly string WithTeacher = Minimal.Replace("stages:", CheckpointTeacher);

    [Fact]
    public void UnknownKeySuggestsTheClosestKeyAndListsAllowedKeys()
    {
        var error = Single(Minimal + "\n    epoch: 3");
        AssertAt(error, 9, 5, "stages[0]: unknown key 'epoch' (did you mean 'epochs'?)");
        Assert.Contains("allowed keys: name, epochs, batch_size, optimizer, schedule, loss, clip_grad_norm, early_stop, cache_teacher", error.Message);
    }

    [Fact]
    public void UnknownKeyFarFromEveryKeyHasNoSuggestion()
    {
        var error = Single(Minimal + "\n    zzz: 3");
        AssertAt(error, 9, 5, "stages[0]: unknown key 'zzz'; allowed keys:");
        Assert.DoesNotContain("did you mean", error.Message);
    }

    [Theory]
    // "    epochs: " is 12 characters, so the value starts at column 13.
    [InlineData(Minimal + "\n    epochs: abc", 9, 13, "stages[0].epochs: expected an integer, got 'abc'")]
    [InlineData(Minimal + "\n    epochs: 2.5", 9, 13, "stages[0].epochs: expected an integer, got '2.5'")]
    [InlineData(Minimal + "\n    cache_teacher: maybe", 9, 20, "stages[0].cache_teacher: expected true or false, got 'maybe'")]
    [InlineData(Minimal + "\n    optimizer: { lr: fast }", 9, 22, "stages[0].optimizer.lr: expected a number, got 'fast'")]
    [InlineData(Minimal + "\n    optimizer: [adam]", 9, 16, "stages[0].optimizer: expected a mapping, got a list")]
    [InlineData(Minimal + "\n    optimizer: { betas: 0.9 }", 9, 25, "stages[0].optimizer.betas: expected a list, got '0.9'")]
    public void WrongTypeSaysWhatWasExpectedAndWhatWasFound(string yaml, int line, int column, string message)
    {
        var error = Single(yaml);
        AssertAt(error, line, column, message);
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData(Minimal + "\n    epochs: -1", 9, 13, "stages[0].epochs: must be in [0, 100000], got -1")]
    [InlineData(Minimal + "\n    optimizer: { lr: 0 }", 9, 22, "stages[0].optimizer.lr: must be > 0, got 0")]
    [InlineData(Minimal + "\n    optimizer: { lr: -1e-3 }", 9, 22, "stages[0].optimizer.lr: must be > 0, got -0.001")]
    [InlineData(Minimal + "\n    early_stop: { patience: 0 }", 9, 29, "stages[0].early_stop.patience: must be in [1, 100000], got 0")]
    [InlineData(Minimal + "\n    loss: { label_smoothing: 1 }", 9, 30, "stages[0].loss.label_smoothing: must be in [0, 1), got 1")]
    [InlineData(Minimal + "\n    clip_grad_norm: 0", 9, 21, "stages[0].clip_grad_norm: must be > 0, got 0")]
    [InlineData(Minimal + "\n    optimizer: { betas: [0.9, 1.0] }", 9, 31, "stages[0].optimizer.betas[1]: must be in [0, 1), got 1")]
    public void OutOfRangeNumbersNameTheRange(string yaml, int line, int column, string message)
    {
        var error = Single(yaml);
        AssertAt(error, line, column, message);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void KdAlphaAndTemperatureAreRangeChecked()
    {
        // Stage starts at line 11; "    loss: { kd: { " puts the first inner key at column 19.
        AssertAt(Single(WithTeacher + "\n    loss: { kd: { alpha: 1.5 } }"), 12, 26, "stages[0].loss.kd.alpha: must be in [0, 1], got 1.5");
        AssertAt(Single(WithTeacher + "\n    loss: { kd: { temperature: 0 } }"), 12, 32, "stages[0].loss.kd.temperature: must be > 0, got 0");
    }

    [Fact]
    public void FractionOfOneIsOutOfRange()
    {
        // "  validation_fraction: " is 23 characters.
        var error = Single(Minimal.Replace("student:", "  validation_fraction: 1\nstudent:"));
        AssertAt(error, 5, 24, "data.validation_fraction: must be in [0, 1), got 1");
    }

    [Fact]
    public void DropoutOfOneIsOutOfRange()
    {
        // "  model: { arch: mlp, hidden: [32], dropout: " is 45 characters.
        var error = Single(Minimal.Replace("hidden: [32] }", "hidden: [32], dropout: 1 }"));
        AssertAt(error, 6, 46, "student.model.dropout: must be in [0, 1), got 1");
    }

    [Fact]
    public void EnumErrorListsAllowedValuesAndSuggests()
    {
        var error = Single(Minimal + "\n    optimizer: { name: adm }");
        AssertAt(error, 9, 24, "stages[0].optimizer.name: must be one of sgd | adam | adamw, got 'adm' (did you mean 'adam'?)");
    }

    [Fact]
    public void MissingRequiredKeyPointsAtTheParentMapping()
    {
        var noStudent = Minimal.Replace("student:\n  model: { arch: mlp, hidden: [32] }\n", "");
        AssertAt(Single(noStudent), 1, 1, "missing required key 'student'");

        var noStageName = Minimal.Replace("  - name: s", "  - epochs: 2");
        AssertAt(Single(noStageName), 8, 5, "stages[0]: missing required key 'name'");

        // The flow mapping of the model starts at its "{", column 10.
        var cnnWithoutChannels = Minimal.Replace("arch: mlp", "arch: cnn");
        AssertAt(Single(cnnWithoutChannels), 6, 10, "student.model: missing required key 'channels'");
    }

    [Fact]
    public void RequiredKeyWithoutValuePointsAtTheKey()
    {
        var error = Single(Minimal.Replace("name: t", "name:"));
        AssertAt(error, 1, 1, "name: needs a value");
    }

    [Fact]
    public void EmptyStagesListIsAnError()
    {
        var error = Single(Minimal.Replace("stages:\n  - name: s", "stages: []"));
        AssertAt(error, 7, 9, "stages: needs at least one item");
    }

    [Fact]
    public void ChannelsOnAnMlpIsAnError()
    {
        var error = Single(Minimal.Replace("hidden: [32]", "channels: [8]"));
        AssertAt(error, 6, 23, "student.model.channels: only allowed when student.model.arch is cnn");
    }

    [Fact]
    public void CsvKeyInAnIdxRecipeIsAnError()
    {
        var error = Single(Minimal.Replace("student:", "  train_csv: x.csv\nstudent:"));
        AssertAt(error, 5, 3, "data.train_csv: only allowed when data.format is csv");
    }

    [Fact]
    public void FixedNormalizationNeedsMeanAndStdOfEqualLength()
    {
        var missing = Errors(Minimal.Replace("student:", "  normalize: fixed\nstudent:"));
        Assert.Equal(2, missing.Count);
        AssertAt(missing[0], 3, 3, "data: missing required key 'mean'");
        AssertAt(missing[1], 3, 3, "data: missing required key 'std'");

        var unequal = Single(Minimal.Replace("student:", "  normalize: fixed\n  mean: [0.5, 0.5]\n  std: [0.2]\nstudent:"));
        AssertAt(unequal, 7, 8, "data.std: has 1 entries but data.mean has 2");
    }

    [Fact]
    public void KdWithoutTeacherPointsAtKd()
    {
        var error = Single(Minimal + "\n    loss:\n      kd: { temperature: 2 }");
        AssertAt(error, 10, 7, "stages[0].loss.kd: needs a teacher; add a teacher section or remove kd");
    }

    [Fact]
    public void HintWithoutTeacherPointsAtHint()
    {
        var error = Single(Minimal + "\n    loss: { hint: { student_tap: a, teacher_tap: b } }");
        AssertAt(error, 9, 13, "stages[0].loss.hint: needs a teacher");
    }

    [Fact]
    public void TeacherWithBothTrainAndCheckpointPointsAtTheSecond()
    {
        var yaml = Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  train: { epochs: 1 }\n  checkpoint: fashion-mnist/t10k-labels-idx1-ubyte.gz\nstages:");
        AssertAt(Single(yaml), 10, 3, "teacher: give either train (train it in this run) or checkpoint (load it), not both");
    }

    [Fact]
    public void TeacherWithNeitherTrainNorCheckpointPointsAtTheTeacher()
    {
        var yaml = Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\nstages:");
        AssertAt(Single(yaml), 8, 3, "teacher: needs either train (train it in this run) or checkpoint (load it)");
    }

    [Fact]
    public void TeacherWithMissingCheckpointReportsOnlyTheMissingFile()
    {
        var error = Single(WithTeacher.Replace("checkpoint: fashion-mnist/t10k-labels-idx1-ubyte.gz", "checkpoint: gone.ckpt"));
        AssertAt(error, 9, 15, $"teacher.checkpoint: file not found: {DataDir}/gone.ckpt");
    }

    [Fact]
    public void TeacherStageRejectsDistillationLosses()
    {
        var yaml = Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  train:\n    loss: { kd: {} }\nstages:");
        AssertAt(Single(yaml), 10, 13, "teacher.train.loss: 'kd' is not allowed here: the teacher is trained with plain cross-entropy");
    }

    [Fact]
    public void DuplicateStageNamePointsAtTheSecondName()
    {
        var error = Single(Minimal + "\n  - name: s");
        AssertAt(error, 9, 11, "stages[1].name: duplicate stage name 's' (already used by stages[0]); stage names must be unique");
    }

    [Fact]
    public void StageNamedLikeTheTeacherStageIsADuplicate()
    {
        var yaml = Minimal.Replace("stages:", "teacher:\n  model: { arch: mlp }\n  train: {}\nstages:");
        var error = Single(yaml.Replace("- name: s", "- name: teacher"));
        AssertAt(error, 11, 11, "stages[0].name: duplicate stage name 'teacher' (already used by teacher.train)");
    }

    [Fact]
    public void DepthwiseListMustMatchChannels()
    {
        // "  model: { arch: cnn, channels: [8, 16], depthwise: " is 52 characters.
        var error = Single(Minimal.Replace("arch: mlp, hidden: [32]", "arch: cnn, channels: [8, 16], depthwise: [false]"));
        AssertAt(error, 6, 53, "student.model.depthwise: has 1 entries but channels has 2; give one per conv block");
    }

    [Fact]
    public void MissingDataFileNamesTheResolvedPath()
    {
        // "  train: { images: " is 19 characters.
        var error = Single(Minimal.Replace("fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/nope.gz"));
        AssertAt(error, 3, 20, "");
        Assert.Equal($"data.train.images: file not found: {DataDir}/fashion-mnist/nope.gz", error.Message);
    }

    [Fact]
    public void EarlyStopNeedsValidationData()
    {
        var yaml = Minimal.Replace("student:", "  validation_fraction: 0\nstudent:") + "\n    early_stop: {}";
        AssertAt(Single(yaml), 10, 5, "stages[0].early_stop: needs validation data; set data.validation_fraction > 0");
    }

    [Fact]
    public void YamlSyntaxErrorReportsTheParserPosition()
    {
        AssertAt(Single("name: t\nseed: 'unterminated\n"), 2, 7, "YAML syntax error: While scanning a quoted scalar, found unexpected end of stream.");
        AssertAt(Single("name: t\ndata:\n  format: idx\n   normalize: none\n"), 4, 13, "YAML syntax error: While scanning a plain scalar value, found invalid mapping.");
        AssertAt(Single("name: t\nseed: [1, 2\n"), 3, 1, "YAML syntax error: While parsing a flow sequence, did not find expected ',' or ']'.");
    }

    [Fact]
    public void UnclosedFlowListFollowedByKeysIsASyntaxError()
    {
        // YamlDotNet fails here without a position; the error points at the last node it read, inside the list.
        var error = Single("name: t\nseed: [1, 2\nstages: 3\n");
        AssertAt(error, 2, 8, "YAML syntax error: a [list] or {mapping} around here is not closed");
    }

    [Fact]
    public void DuplicateKeyIsASyntaxErrorAtTheSecondKey()
    {
        var error = Single("name: t\nseed: 1\nseed: 2\n");
        AssertAt(error, 3, 1, "YAML syntax error: Duplicate key");
    }

    [Fact]
    public void EmptyRecipeListsEveryRequiredKey()
    {
        var errors = Errors("");
        Assert.Equal(
            ["missing required key 'name'", "missing required key 'data'", "missing required key 'student'", "missing required key 'stages'"],
            errors.Select(e => e.Message));
        Assert.All(errors, e => Assert.Equal((1, 1), (e.Line, e.Column)));
    }

    [Fact]
    public void RecipeThatIsNotAMappingIsAnError()
    {
        AssertAt(Single("just text"), 1, 1, "expected a mapping, got 'just text'");
    }

    [Fact]
    public void InvalidNameIsAnError()
    {
        AssertAt(Single(Minimal.Replace("name: t", "name: my run")), 1, 7,
            "name: must be letters, digits, '-', '_' and '.' only (not '.' or '..'), at most 100 characters, got 'my run'");
    }

    /// <summary>Run and stage names end up in file names (pruning/sparsity-&lt;stage&gt;.csv) and keys: no '..', no trailing
    /// newline (a '$' in the pattern let "a\n" through), and short enough for a file name.</summary>
    [Theory]
    [InlineData("name: t", "name: ..", 1, 7, "name: must be")]
    [InlineData("name: t", "name: \"t\\n\"", 1, 7, "name: must be")]
    [InlineData("name: t", "name: \"t\\e[31m\"", 1, 7, "name: must be")]
    [InlineData("  - name: s", "  - name: \"s\\n\"", 8, 11, "stages[0].name: must be")]
    [InlineData("  - name: s", "  - name: .", 8, 11, "stages[0].name: must be")]
    public void NamesThatCouldLeaveAFolderOrBreakALineAreErrors(string line, string replacement, int at, int column, string message)
    {
        AssertAt(Single(Minimal.Replace(line, replacement, StringComparison.Ordinal)), at, column, message);
    }

    [Fact]
    public void NamesAreAtMostOneHundredCharacters()
    {
        Assert.Equal(new string('s', 100), Load(Minimal.Replace("  - name: s", "  - name: " + new string('s', 100))).Stages[0].Name);
        AssertAt(Single(Minimal.Replace("  - name: s", "  - name: " + new string('s', 101))), 8, 11, "stages[0].name: is 101 characters long");
    }

    [Fact]
    public void EveryErrorInAFileIsReportedInFileOrder()
    {
        string yaml = """
            name: many errors
            device: gpu
            data:
              train: { images: fashion-mnist/missing-images.gz, labels: fashion-mnist/train-labels-idx1-ubyte.gz }
              test: { images: fashion-mnist/t10k-images-idx3-ubyte.gz, labels: fashion-mnist/t10k-labels-idx1-ubyte.gz }
            student:
              model: { arch: cnn, channels: [8, 16], pool: [true] }
            stages:
              - name: a
                epoch: 3
                optimizer: { name: adam, lr: abc }
                loss: { kd: {} }
              - name: a
                batch_size: 0
            """;
        var errors = Errors(yaml);
        (int Line, int Column, string Message)[] expected =
        [
            (1, 7, "name: must be letters"),
            (2, 9, "device: must be one of cpu | cuda, got 'gpu'"),
            (4, 20, "data.train.images: file not found"),
            (7, 48, "student.model.pool: has 1 entries but channels has 2"),
            (10, 5, "stages[0]: unknown key 'epoch' (did you mean 'epochs'?)"),
            (11, 34, "stages[0].optimizer.lr: expected a number, got 'abc'"),
            (12, 13, "stages[0].loss.kd: needs a teacher"),
            (13, 11, "stages[1].name: duplicate stage name 'a'"),
            (14, 17, "stages[1].batch_size: must be in [1, 65536], got 0"),
        ];
        Assert.Equal(expected.Length, errors.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            AssertAt(errors[i], expected[i].Line, expected[i].Column, expected[i].Message);
        }
        Assert.StartsWith("recipe.yaml:10:5: stages[0]: unknown key 'epoch'", errors[4].ToString());
    }
}
