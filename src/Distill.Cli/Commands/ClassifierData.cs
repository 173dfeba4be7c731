using System.CommandLine;
using System.Text.Json.Nodes;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Training;
using Distill.Recipes;

namespace Distill.Cli.Commands;

/// <summary>The data a classifier is evaluated, calibrated or verified on: a recipe's splits, an IDX file or a CSV
/// file, read and normalised as the model's own training data was.</summary>
internal static class ClassifierData
{
    /// <summary>The test split to evaluate on, read and normalised as the model was trained. A recipe's own seed
    /// picks the same held-out split as its run did.</summary>
    internal static (DataOptions Options, string BaseDirectory, int Seed) For(ParseResult parse, string checkpoint, ModelDescriptor descriptor) =>
        For(parse, parse.GetValue(EvalCommand.Data)!, ModelInput.Of(checkpoint, descriptor));

    /// <summary>The data of <see cref="For(ParseResult, string, ModelDescriptor)"/>, read; samples of another shape than
    /// the checkpoint's model takes are an error naming the --data file. Seed: the recipe's (it picked the split).</summary>
    internal static (DataSplits Data, int Seed) Load(ParseResult parse, string checkpoint, ModelDescriptor descriptor)
    {
        var (options, baseDirectory, seed) = For(parse, checkpoint, descriptor);
        var data = DatasetLoader.Load(options, baseDirectory, seed);
        if (!data.InputShape.SequenceEqual(descriptor.InputShape))
        {
            data.Dispose();
            throw new InvalidInputException(
                $"{parse.GetValue(EvalCommand.Data)}: samples have shape [{string.Join(",", data.InputShape)}], but {checkpoint} expects [{string.Join(",", descriptor.InputShape)}]");
        }
        return (data, seed);
    }

    /// <param name="path">A recipe, IDX images file or CSV file.</param>
    /// <param name="model">What the model says about its input: a bare data file is read as its training data was.</param>
    /// <param name="recipeFolder">For a run's recorded recipe: the folder its relative paths are taken from
    /// (<see cref="RecordedRecipe.Folder"/>); null: the recipe's own folder.</param>
    internal static (DataOptions Options, string BaseDirectory, int Seed) For(ParseResult parse, string path, ModelInput model,
        string? recipeFolder = null)
    {
        var asTrained = new DataOptions
        {
            Normalize = model.Normalization is null ? NormalizationMode.None : NormalizationMode.Fixed,
            Mean = model.Normalization?.Mean,
            Std = model.Normalization?.Std,
            // Labels must be classes of the model, whichever of them the data holds.
            NumClasses = model.NumClasses,
        };
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".yaml" or ".yml")
        {
            // Only the recipe's data is used, on the CPU: the device it trained on does not matter here.
            var plan = recipeFolder is null
                ? RecipeLoader.Load(path, devices: DeviceSupport.Any)
                : RecipeLoader.LoadText(File.ReadAllText(path), path, recipeFolder, devices: DeviceSupport.Any);
            return (plan.Data with
            {
                Normalize = asTrained.Normalize,
                Mean = asTrained.Mean,
                Std = asTrained.Std,
                NumClasses = asTrained.NumClasses,
                Augment = null,
                // Class names map to the model's classes, not to those of whatever file the recipe reads now.
                CsvClassNames = plan.Data.CsvLabelNames ? model.Reading?.ClassNames?.ToArray() : null,
            }, plan.BaseDirectory, plan.Seed);
        }
        if (path.Contains("idx3", StringComparison.Ordinal))
        {
            if (model.Reading is { Format: DataFormat.Csv, Scale: not DataReading.IdxScale } csvTrained)
                throw new InvalidInputException(
                    $"{path}: IDX pixels are read as bytes / {DataReading.IdxScale:R}, but {model.Source} was trained on CSV features divided by {csvTrained.Scale:R}; give a recipe that reads this data (--data recipe.yaml)");
            var labels = parse.GetValue(EvalCommand.Labels) ?? path.Replace("images-idx3", "labels-idx1", StringComparison.Ordinal);
            var files = new IdxFiles(Path.GetFullPath(path), Path.GetFullPath(labels));
            return (asTrained with { Format = DataFormat.Idx, TrainIdx = files, TestIdx = files, ValidationFraction = 0 }, Environment.CurrentDirectory, 0);
        }
        if (Directory.Exists(path))
            throw new InvalidInputException($"{path}: is a folder; for an image folder give the recipe that reads it (--data recipe.yaml)");
        if (model.Reading is not { Format: DataFormat.Csv } reading)
            throw new InvalidInputException(
                $"{path}: cannot read this CSV file as {model.Source}'s training data was read: {WhyNoCsvReading(model.Reading)}, so its data.scale and data.header are unknown; give a recipe that states them (--data recipe.yaml)");
        var csv = Path.GetFullPath(path);
        return (asTrained with
        {
            Format = DataFormat.Csv,
            TrainCsv = csv,
            TestCsv = csv,
            CsvHasHeader = reading.Header,
            CsvScale = reading.Scale,
            LabelColumn = parse.GetValue(EvalCommand.LabelColumn) ?? reading.LabelColumn,
            CsvFeatures = reading.Features?.ToArray(),
            CsvLabelNames = reading.ClassNames is not null,
            CsvClassNames = reading.ClassNames?.ToArray(),
            ValidationFraction = 0,
            ImageShape = model.Shape.Length == 3 ? model.Shape : null
        }, Environment.CurrentDirectory, 0);
    }

    private static string WhyNoCsvReading(DataReading? reading) => reading is null
        ? "it does not record how (written before Distill recorded it)"
        : $"it was trained on {reading.FormatName} data";

    /// <summary>What an exported file's model card says about the data the model takes.</summary>
    internal static ModelInput InputOf(string path, JsonObject card)
    {
        var model = card["model"]?.AsObject() ?? throw new InvalidInputException($"{path}: the model card has no model section");
        long[] inputShape = model["input_shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
        var pre = card["preprocessing"]!.AsObject();
        Normalization? normalization = pre["mean"] is JsonArray mean && pre["std"] is JsonArray std
            ? new Normalization([.. mean.Select(v => v!.GetValue<double>())], [.. std.Select(v => v!.GetValue<double>())])
            : null;
        var reading = Reading(pre);
        if (reading is { Format: DataFormat.Csv } && pre["labels_by_name"]?.GetValue<bool>() == true && card["labels"] is JsonArray labels)
            reading = reading with { ClassNames = [.. labels.Select(l => l!.GetValue<string>())] };
        return new ModelInput(path, inputShape, model["classes"]!.GetValue<int>(), normalization, reading);
    }

    /// <summary>The card's record of how the training data was read; null in cards written before it was recorded.</summary>
    private static DataReading? Reading(JsonObject preprocessing) =>
        preprocessing["data_format"]?.GetValue<string>() switch
        {
            "idx" => new DataReading(DataFormat.Idx, DataReading.IdxScale, false, null),
            "csv" => new DataReading(DataFormat.Csv, preprocessing["scale"]!.GetValue<double>(), preprocessing["csv_header"]!.GetValue<bool>(),
                preprocessing["label_column"]?.GetValue<string>(),
                Features: preprocessing["features"] is JsonArray features ? [.. features.Select(f => f!.GetValue<string>())] : null),
            _ => null,
        };
}

/// <summary>What a model says about the data it takes: from a checkpoint's header or an exported file's model card.</summary>
/// <param name="Source">The model file, for messages.</param>
internal sealed record ModelInput(string Source, long[] Shape, int NumClasses, Normalization? Normalization, DataReading? Reading)
{
    public static ModelInput Of(string checkpoint, ModelDescriptor descriptor) =>
        new(checkpoint, descriptor.InputShape, descriptor.NumClasses, descriptor.Normalization, descriptor.Reading);
}
