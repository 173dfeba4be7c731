using System.Text.Json;

namespace Distill.Cli.Tests;

/// <summary>A run of the shipped configs/digits/kd.yaml as written (relative data path), trained from the
/// repository's root as the README does; shortened to one epoch per phase.</summary>
public sealed class ShippedDigitsRunFixture : IDisposable
{
    public static readonly string Recipe = Path.Combine(CliProcess.RepoRoot, "configs", "digits", "kd.yaml");
    public static readonly string[] Short = ["--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=1"];

    public ShippedDigitsRunFixture()
    {
        var train = CliProcess.Run(["train", "configs/digits/kd.yaml", "--json", "--store", Store.Path, .. Short], TimeSpan.FromMinutes(5));
        Assert.True(train.ExitCode == 0, train.ToString());
        Run = new RunJsonView(train.StdOut);
    }

    public TempDir Store { get; } = new();
    public RunJsonView Run { get; }

    public string Artifact(string path) => Path.Combine(Store.Path, "artifacts", Run.Id, path);

    public void Dispose() => Store.Dispose();
}

[CollectionDefinition(Name)]
public sealed class ShippedDigitsRun : ICollectionFixture<ShippedDigitsRunFixture>
{
    public const string Name = "shipped digits run";
}

/// <summary>The recipe a run records, and what `recipes show` prints, run again from any working directory.</summary>
[Collection(ShippedDigitsRun.Name)]
public sealed class RecordedRecipeTests(ShippedDigitsRunFixture fixture)
{
    private static CliResult RunIn(string folder, params string[] args) => CliProcess.Run(args, TimeSpan.FromMinutes(5), folder);

    [Fact]
    public void Export_of_a_run_of_a_shipped_recipe_works_from_another_folder()
    {
        using var elsewhere = new TempDir();
        var export = RunIn(elsewhere.Path, "export", fixture.Run.Id, "--target", "x86-vnni", "--store", fixture.Store.Path, "--json");
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.True(JsonDocument.Parse(export.StdOut).RootElement.GetProperty("verification").GetProperty("passed").GetBoolean());
        Assert.True(File.Exists(fixture.Artifact("exports/x86-vnni/model.onnx")));
    }

    [Fact]
    public void A_run_recorded_with_relative_paths_exports_from_the_folder_it_recorded()
    {
        // Earlier versions recorded the recipe's paths as written, plus the recipe's folder as a param.
        using var old = new TempDir();
        foreach (string file in Directory.GetFiles(fixture.Store.Path, "*", SearchOption.AllDirectories))
        {
            string copy = Path.Combine(old.Path, Path.GetRelativePath(fixture.Store.Path, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        string recorded = Path.Combine(old.Path, "artifacts", fixture.Run.Id, "recipe.yaml");
        File.WriteAllText(recorded, File.ReadAllText(recorded).Replace(
            Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz"), "../../data/digits/digits.csv.gz", StringComparison.Ordinal));
        Assert.Equal(Path.Combine(CliProcess.RepoRoot, "configs", "digits"), fixture.Run.Param("recipe.base_directory"));

        using var elsewhere = new TempDir();
        var export = RunIn(elsewhere.Path, "export", fixture.Run.Id, "--target", "onnx-fp32", "--store", old.Path, "--json");
        Assert.True(export.ExitCode == 0, export.ToString());
    }

    [Fact]
    public void The_recorded_recipe_names_its_data_in_full_and_trains_again_from_another_folder()
    {
        string recorded = fixture.Artifact("recipe.yaml");
        Assert.Contains($"train_csv: {Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz")}\n", File.ReadAllText(recorded));

        using var elsewhere = new TempDir();
        var again = RunIn(elsewhere.Path, "train", recorded, "--json", "--store", elsewhere.File("store"));
        Assert.True(again.ExitCode == 0, again.ToString());
        // Same recipe, same data, same seed: the same figures.
        var run = new RunJsonView(again.StdOut);
        Assert.Equal(fixture.Run.Metric("student/test_acc"), run.Metric("student/test_acc"));
    }

    [Fact]
    public void What_recipes_show_prints_trains_from_another_folder()
    {
        var shown = CliProcess.Run(["recipes", "show", "configs/digits/kd.yaml", .. ShippedDigitsRunFixture.Short], TimeSpan.FromMinutes(1));
        Assert.True(shown.ExitCode == 0, shown.ToString());
        using var elsewhere = new TempDir();
        File.WriteAllText(elsewhere.File("shown.yaml"), shown.StdOut);

        var train = RunIn(elsewhere.Path, "train", "shown.yaml", "--json", "--store", "store");
        Assert.True(train.ExitCode == 0, train.ToString());
        Assert.Equal(fixture.Run.Metric("student/test_acc"), new RunJsonView(train.StdOut).Metric("student/test_acc"));
    }

    [Fact]
    public void Eval_and_calibrate_read_the_recorded_recipe_from_another_folder()
    {
        using var elsewhere = new TempDir();
        string student = fixture.Artifact("models/student.ckpt");
        var eval = RunIn(elsewhere.Path, "eval", student, "--data", fixture.Artifact("recipe.yaml"), "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        // The recorded recipe's seed picks the run's own test split, so eval repeats the run's figure.
        Assert.Equal(fixture.Run.Metric("student/test_acc"), JsonDocument.Parse(eval.StdOut).RootElement.GetProperty("accuracy").GetDouble());

        var calibrate = RunIn(elsewhere.Path, "calibrate", student, "--data", fixture.Artifact("recipe.yaml"), "--observer", "minmax", "--batches", "1", "--json");
        Assert.True(calibrate.ExitCode == 0, calibrate.ToString());
    }
}
