using Distill.Core.Data;
using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

public class ImageFolderRecipeTests
{
    private static readonly string Folders = Path.Combine(Path.GetTempPath(), "distill-image-folder-recipe-tests");

    /// <summary>An image-folder recipe whose folders exist (the schema checks that; their content is Core's to read).</summary>
    private static string Recipe(string dataExtra = "")
    {
        Directory.CreateDirectory(Path.Combine(Folders, "train"));
        Directory.CreateDirectory(Path.Combine(Folders, "test"));
        return $"""
            name: t
            data:
              format: image_folder
              train_folder: {Folders}/train
              test_folder: {Folders}/test
              image_size: [32, 24]
              channels: 3
            {dataExtra}
            student:
              model: {"{"} arch: cnn, channels: [8] {"}"}
            stages:
              - name: s
            """;
    }

    [Fact]
    public void Image_folder_keys_bind_with_their_defaults()
    {
        var data = Load(Recipe("  skip_bad: true\n  augment: { max_shift: 4, horizontal_flip: true }")).Data;
        Assert.Equal(DataFormat.ImageFolder, data.Format);
        Assert.Equal(Path.Combine(Folders, "train"), data.TrainFolder);
        Assert.Equal(Path.Combine(Folders, "test"), data.TestFolder);
        Assert.Equal(new ImageFolderOptions { Height = 32, Width = 24, Channels = 3, SkipBad = true, ConvertChannels = false }, data.ImageFolder);
        Assert.Equal((4, true), (data.Augment!.MaxShift, data.Augment.HorizontalFlip));
    }

    [Fact]
    public void A_missing_folder_is_an_error_at_its_line()
    {
        AssertAt(Single(Recipe().Replace("/test\n", "/nowhere\n", StringComparison.Ordinal)), 5, 16,
            $"data.test_folder: folder not found: {Folders}/nowhere");
    }

    [Fact]
    public void Two_channels_and_num_classes_are_errors_at_their_lines()
    {
        AssertAt(Single(Recipe().Replace("channels: 3", "channels: 2", StringComparison.Ordinal)), 7, 13, "data.channels: must be 1 (grey) or 3 (RGB), got 2");
        // Classes are the sub-folders: a class count cannot be declared.
        AssertAt(Single(Recipe("  num_classes: 4")), 8, 3, "data.num_classes: only allowed when data.format is idx or csv");
    }

    [Fact]
    public void Image_size_needs_height_and_width()
    {
        AssertAt(Single(Recipe().Replace("[32, 24]", "[32]", StringComparison.Ordinal)), 6, 15, "data.image_size");
    }
}

public class NamedCsvRecipeTests
{
    private const string Csv = """
        name: t
        data:
          format: csv
          train_csv: digits/digits.csv.gz
          features: [a, b]
          label_column: species
          labels: name
        student:
          model: { arch: mlp, hidden: [8] }
        stages:
          - name: s
        """;

    [Fact]
    public void Features_and_label_names_bind()
    {
        string folder = Path.Combine(Path.GetTempPath(), "distill-named-csv-recipe");
        Directory.CreateDirectory(Path.Combine(folder, "digits"));
        File.WriteAllText(Path.Combine(folder, "digits", "digits.csv.gz"), "a,b,species\n");
        var data = RecipeLoader.LoadText(Csv, "recipe.yaml", folder).Data;
        Assert.Equal(["a", "b"], data.CsvFeatures!);
        Assert.True(data.CsvLabelNames);
        Assert.Equal("species", data.LabelColumn);
        Assert.False(RecipeLoader.LoadText(Csv.Replace("  labels: name\n", "", StringComparison.Ordinal), "recipe.yaml", folder).Data.CsvLabelNames);
    }

    [Fact]
    public void Features_are_only_for_csv()
    {
        var error = Single(Recipes.Minimal.Replace("student:", "  features: [a]\nstudent:", StringComparison.Ordinal));
        AssertAt(error, 5, 3, "data.features: only allowed when data.format is csv");
    }
}
