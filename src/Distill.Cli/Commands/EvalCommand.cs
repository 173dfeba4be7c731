using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Quantization;
using Distill.Core.Text;
using Distill.Core.Training;
using Distill.Recipes;

namespace Distill.Cli.Commands;

public static class EvalCommand
{
    private static readonly Argument<string> Checkpoint = new("checkpoint")
    {
        Description = "Model checkpoint (a run's models/student.ckpt or models/teacher.ckpt), or an exported model.onnx / model.tflite; a file, or runs:/<run name, id or id prefix>/<artifact path> in the run store",
    };

    internal static readonly Option<string> Data = new("--data")
    {
        Description = "A recipe (its test split is used; language models: its validation split), a text file (language models), an IDX images file (labels file found by name, or --labels), or a CSV file",
        Required = true,
    };

    internal static readonly Option<string?> Labels = new("--labels") { Description = "IDX labels file for an IDX images file" };
    internal static readonly Option<string?> LabelColumn = new("--label-column") { Description = "CSV label column (default: the last)" };

    public static Command Create()
    {
        var command = new Command("eval", "Measure a model checkpoint's accuracy and loss (language models: cross-entropy, bits per byte, perplexity), or an exported file's accuracy and latency in its runtime, on a data set.")
        {
            Checkpoint, Data, Labels, LabelColumn,
        };
        command.SetAction(Execute);
        return command;
    }

    private static int Execute(ParseResult parse)
    {
        var checkpoint = RunFiles.Resolve(parse, parse.GetValue(Checkpoint)!, "checkpoint");
        if (LmOnnx.IsLanguageModelFile(checkpoint))
            return LmEval.ExecuteOnnx(checkpoint, parse.GetValue(Data)!, parse.GetValue(GlobalOptions.Json), parse.GetValue(GlobalOptions.Threads) ?? 1);
        if (ExportedModelEval.Handles(checkpoint))
            return ExportedModelEval.Execute(parse, checkpoint);
        if (LmCheckpoint.IsLanguageModel(checkpoint))
            return LmEval.Execute(checkpoint, parse.GetValue(Data)!, parse.GetValue(GlobalOptions.Json));
        var (model, descriptor, quantized) = QuantState.LoadModel(checkpoint);
        using var _ = model;
        using var __ = quantized;
        var (options, baseDirectory, seed) = DataFor(parse, checkpoint, descriptor);
        using var data = DatasetLoader.Load(options, baseDirectory, seed);
        if (!data.InputShape.SequenceEqual(descriptor.InputShape))
            throw new InvalidInputException(
                $"{parse.GetValue(Data)}: samples have shape [{string.Join(", ", data.InputShape)}], but {checkpoint} expects [{string.Join(", ", descriptor.InputShape)}]");

        var clock = Stopwatch.StartNew();
        // A quantised model is measured as it will be deployed: through its fake-quant view.
        var result = quantized is null ? Evaluator.Evaluate(model, data.Test) : Evaluator.Evaluate(quantized, data.Test);
        clock.Stop();
        if (parse.GetValue(GlobalOptions.Json))
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                checkpoint,
                data = parse.GetValue(Data),
                quantized = quantized is not null,
                samples = result.Samples,
                accuracy = result.Accuracy,
                loss = result.Loss,
                seconds = clock.Elapsed.TotalSeconds,
            }, new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            Console.Out.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "{0}: {1}{2} on {3:N0} samples: accuracy {4:P2}, loss {5:F4} ({6:F2} s)",
                checkpoint, descriptor.Describe(), quantized is null ? "" : ", quantised", result.Samples, result.Accuracy, result.Loss, clock.Elapsed.TotalSeconds));
        }
        return ExitCodes.Success;
    }

    /// <summary>The test split to evaluate on, read and normalised as the model was trained. A recipe's own seed
    /// picks the same held-out split as its run did.</summary>
    internal static (DataOptions Options, string BaseDirectory, int Seed) DataFor(ParseResult parse, string checkpoint, ModelDescriptor descriptor) =>
        DataFor(parse, parse.GetValue(Data)!, ModelInput.Of(checkpoint, descriptor));

    /// <param name="path">A recipe, IDX images file or CSV file.</param>
    /// <param name="model">What the model says about its input: a bare data file is read as its training data was.</param>
    /// <param name="recipeFolder">For a run's recorded recipe: the folder its relative paths are taken from
    /// (<see cref="RecordedRecipe.Folder"/>); null: the recipe's own folder.</param>
    internal static (DataOptions Options, string BaseDirectory, int Seed) DataFor(ParseResult parse, string path, ModelInput model,
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
            return (plan.Data with { Normalize = asTrained.Normalize, Mean = asTrained.Mean, Std = asTrained.Std, NumClasses = asTrained.NumClasses, Augment = null },
                plan.BaseDirectory, plan.Seed);
        }
        if (path.Contains("idx3", StringComparison.Ordinal))
        {
            if (model.Reading is { Format: DataFormat.Csv, Scale: not DataReading.IdxScale } csvTrained)
                throw new InvalidInputException(
                    $"{path}: IDX pixels are read as bytes / {DataReading.IdxScale:R}, but {model.Source} was trained on CSV features divided by {csvTrained.Scale:R}; give a recipe that reads this data (--data recipe.yaml)");
            var labels = parse.GetValue(Labels) ?? path.Replace("images-idx3", "labels-idx1", StringComparison.Ordinal);
            var files = new IdxFiles(Path.GetFullPath(path), Path.GetFullPath(labels));
            return (asTrained with { Format = DataFormat.Idx, TrainIdx = files, TestIdx = files, ValidationFraction = 0 }, Environment.CurrentDirectory, 0);
        }
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
            LabelColumn = parse.GetValue(LabelColumn) ?? reading.LabelColumn,
            ValidationFraction = 0,
            ImageShape = model.Shape.Length == 3 ? model.Shape : null
        }, Environment.CurrentDirectory, 0);
    }

    private static string WhyNoCsvReading(DataReading? reading) => reading is null
        ? "it does not record how (written before Distill recorded it)"
        : $"it was trained on {reading.Format.ToString().ToUpperInvariant()} files";
}

/// <summary>What a model says about the data it takes: from a checkpoint's header or an exported file's model card.</summary>
/// <param name="Source">The model file, for messages.</param>
internal sealed record ModelInput(string Source, long[] Shape, int NumClasses, Normalization? Normalization, DataReading? Reading)
{
    public static ModelInput Of(string checkpoint, ModelDescriptor descriptor) =>
        new(checkpoint, descriptor.InputShape, descriptor.NumClasses, descriptor.Normalization, descriptor.Reading);
}
