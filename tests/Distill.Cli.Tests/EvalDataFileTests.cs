using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Core.Training;

namespace Distill.Cli.Tests;

/// <summary>`distill eval &lt;model&gt; --data file.csv` reads the file as the model's training data was read (scale,
/// header row, label column), as recorded in its checkpoint or model card, or refuses when that is not recorded.</summary>
[Collection(ShippedDigitsRun.Name)]
public sealed class EvalDataFileTests(ShippedDigitsRunFixture fixture)
{
    private static readonly string DigitsCsv = Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz");

    /// <summary>configs/digits/kd.yaml with the whole CSV as its test split: the split `eval --data digits.csv.gz` takes.</summary>
    private static string WholeFileRecipe(TempDir dir)
    {
        string recipe = dir.File("kd-whole-file.yaml");
        File.WriteAllText(recipe, File.ReadAllText(ShippedDigitsRunFixture.Recipe).Replace(
            "  train_csv: ../../data/digits/digits.csv.gz\n", $"  train_csv: {DigitsCsv}\n  test_csv: {DigitsCsv}\n", StringComparison.Ordinal));
        return recipe;
    }

    private static JsonElement Eval(string model, string data)
    {
        var eval = CliProcess.Run("eval", model, "--data", data, "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        return JsonDocument.Parse(eval.StdOut).RootElement;
    }

    [Fact]
    public void A_csv_file_gives_the_same_figures_as_the_recipe_on_the_same_rows()
    {
        using var dir = new TempDir();
        string recipe = WholeFileRecipe(dir);
        string student = fixture.Artifact("models/student.ckpt");

        // Same 1,797 rows, same scale (16), no header row: the same accuracy and loss to the last bit.
        var fromFile = Eval(student, DigitsCsv);
        var fromRecipe = Eval(student, recipe);
        Assert.Equal(1797, fromFile.GetProperty("samples").GetInt64());
        Assert.Equal(fromRecipe.GetProperty("samples").GetInt64(), fromFile.GetProperty("samples").GetInt64());
        Assert.Equal(fromRecipe.GetProperty("accuracy").GetDouble(), fromFile.GetProperty("accuracy").GetDouble());
        Assert.Equal(fromRecipe.GetProperty("loss").GetDouble(), fromFile.GetProperty("loss").GetDouble());

        // An exported file reads the CSV as its model card says: the same accuracy in ONNX Runtime both ways.
        var export = CliProcess.Run("export", student, "--target", "onnx-fp32", "--data", ShippedDigitsRunFixture.Recipe, "--out", dir.File("onnx"));
        Assert.True(export.ExitCode == 0, export.ToString());
        var card = JsonNode.Parse(File.ReadAllText(dir.File("onnx/model_card.json")))!["preprocessing"]!;
        Assert.Equal("csv", (string)card["data_format"]!);
        Assert.Equal(16.0, (double)card["scale"]!);
        Assert.False((bool)card["csv_header"]!);
        var onnxFromFile = Eval(dir.File("onnx/model.onnx"), DigitsCsv);
        Assert.Equal(1797, onnxFromFile.GetProperty("samples").GetInt64());
        Assert.Equal(Eval(dir.File("onnx/model.onnx"), recipe).GetProperty("accuracy").GetDouble(), onnxFromFile.GetProperty("accuracy").GetDouble());
    }

    [Fact]
    public void A_checkpoint_that_does_not_record_how_its_data_was_read_is_refused_for_a_csv_file_and_still_reads_a_recipe()
    {
        // Checkpoints written before the reading was recorded have no "reading" in their model description.
        using var dir = new TempDir();
        var (header, sections) = CheckpointFile.Read(fixture.Artifact("models/student.ckpt"));
        var json = JsonNode.Parse(header)!;
        Assert.NotNull(json["model"]!["reading"]);
        json["model"]!.AsObject().Remove("reading");
        string old = dir.File("old.ckpt");
        CheckpointFile.Write(old, json.ToJsonString(), sections);

        var refused = CliProcess.Run("eval", old, "--data", DigitsCsv);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains($"error: {DigitsCsv}: cannot read this CSV file as {old}'s training data was read: it does not record how", refused.StdErr);
        Assert.Contains("data.scale and data.header are unknown; give a recipe that states them (--data recipe.yaml)", refused.StdErr);

        Assert.Equal(fixture.Run.Metric("student/test_acc"), Eval(old, ShippedDigitsRunFixture.Recipe).GetProperty("accuracy").GetDouble());
    }

    [Fact]
    public void A_csv_label_that_is_not_a_class_of_the_model_is_refused_naming_its_line()
    {
        using var dir = new TempDir();
        using (var gzip = new System.IO.Compression.GZipStream(File.OpenRead(DigitsCsv), System.IO.Compression.CompressionMode.Decompress))
        using (var reader = new StreamReader(gzip))
        {
            string[] lines = reader.ReadToEnd().Split('\n');
            lines[2] = lines[2][..lines[2].LastIndexOf(',')] + ",10";
            File.WriteAllText(dir.File("digits.csv"), string.Join('\n', lines));
        }
        var refused = CliProcess.Run("eval", fixture.Artifact("models/student.ckpt"), "--data", dir.File("digits.csv"));
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains($"error: {dir.File("digits.csv")}: label 10 at line 3 is outside the 10 declared classes 0..9", refused.StdErr);
    }

    [Fact]
    public void An_idx_file_is_refused_for_a_model_trained_on_csv_features_of_another_scale()
    {
        string images = Path.Combine(CliProcess.RepoRoot, "data", "fashion-mnist-subset", "t10k-images-idx3-ubyte.gz");
        var refused = CliProcess.Run("eval", fixture.Artifact("models/student.ckpt"), "--data", images);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains($"{images}: IDX pixels are read as bytes / 255, but {fixture.Artifact("models/student.ckpt")} was trained on CSV features divided by 16", refused.StdErr);
    }
}
