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
        Description = "Model checkpoint (a run's models/student.ckpt or models/teacher.ckpt), or an exported model.onnx / model.tflite",
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
        var checkpoint = parse.GetValue(Checkpoint)!;
        if (LmOnnx.IsLanguageModelFile(checkpoint))
            return LmEval.ExecuteOnnx(checkpoint, parse.GetValue(Data)!, parse.GetValue(GlobalOptions.Json), parse.GetValue(GlobalOptions.Threads) ?? 1);
        if (ExportedModelEval.Handles(checkpoint))
            return ExportedModelEval.Execute(parse, checkpoint);
        if (LmCheckpoint.IsLanguageModel(checkpoint))
            return LmEval.Execute(checkpoint, parse.GetValue(Data)!, parse.GetValue(GlobalOptions.Json));
        var (model, descriptor, quantized) = QuantState.LoadModel(checkpoint);
        using var _ = model;
        using var __ = quantized;
        var (options, baseDirectory, seed) = DataFor(parse, descriptor);
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

    /// <summary>The test split to evaluate on, normalised as the model was trained. A recipe's own seed
    /// picks the same held-out split as its run did.</summary>
    internal static (DataOptions Options, string BaseDirectory, int Seed) DataFor(ParseResult parse, ModelDescriptor descriptor) =>
        DataFor(parse, parse.GetValue(Data)!, descriptor.Normalization, descriptor.InputShape);

    /// <param name="path">A recipe, IDX images file or CSV file.</param>
    internal static (DataOptions Options, string BaseDirectory, int Seed) DataFor(ParseResult parse, string path, Normalization? normalization, long[] inputShape)
    {
        var normalize = normalization is null
            ? new DataOptions { Normalize = NormalizationMode.None }
            : new DataOptions { Normalize = NormalizationMode.Fixed, Mean = normalization.Mean, Std = normalization.Std };
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".yaml" or ".yml")
        {
            // Only the recipe's data is used, on the CPU: the device it trained on does not matter here.
            var plan = RecipeLoader.Load(path, devices: DeviceSupport.Any);
            return (plan.Data with { Normalize = normalize.Normalize, Mean = normalize.Mean, Std = normalize.Std, Augment = null }, plan.BaseDirectory, plan.Seed);
        }
        if (path.Contains("idx3", StringComparison.Ordinal))
        {
            var labels = parse.GetValue(Labels) ?? path.Replace("images-idx3", "labels-idx1", StringComparison.Ordinal);
            var files = new IdxFiles(Path.GetFullPath(path), Path.GetFullPath(labels));
            return (normalize with { Format = DataFormat.Idx, TrainIdx = files, TestIdx = files, ValidationFraction = 0 }, Environment.CurrentDirectory, 0);
        }
        var csv = Path.GetFullPath(path);
        return (normalize with
        {
            Format = DataFormat.Csv,
            TrainCsv = csv,
            TestCsv = csv,
            LabelColumn = parse.GetValue(LabelColumn),
            ValidationFraction = 0,
            ImageShape = inputShape.Length == 3 ? inputShape : null
        }, Environment.CurrentDirectory, 0);
    }
}
