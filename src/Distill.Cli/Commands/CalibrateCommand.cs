using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Quantization;
using Distill.Core.Training;
using Spectre.Console;

namespace Distill.Cli.Commands;

/// <summary>`distill calibrate`: post-training quantisation of a saved model, one row per observer.</summary>
public static class CalibrateCommand
{
    private static readonly Argument<string> Checkpoint = new("checkpoint")
    {
        Description = "Model checkpoint (a run's models/student.ckpt)",
    };

    private static readonly Option<string[]> Observers = new("--observer")
    {
        Description = "Activation observer(s): minmax, moving-average, percentile, entropy, mse (repeatable; default: all)",
        Arity = ArgumentArity.ZeroOrMore,
    };

    private static readonly Option<int> Batches = new("--batches")
    {
        Description = "Calibration batches drawn from the training split",
        DefaultValueFactory = _ => 16,
    };

    private static readonly Option<int> BatchSize = new("--batch-size") { DefaultValueFactory = _ => 64 };
    private static readonly Option<int> WeightBits = new("--weight-bits") { DefaultValueFactory = _ => 8 };
    private static readonly Option<int> ActivationBits = new("--activation-bits") { DefaultValueFactory = _ => 8 };

    private static readonly Dictionary<string, ObserverKind> ObserverNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["minmax"] = ObserverKind.MinMax,
        ["moving-average"] = ObserverKind.MovingAverageMinMax,
        ["percentile"] = ObserverKind.Percentile,
        ["entropy"] = ObserverKind.Entropy,
        ["mse"] = ObserverKind.Mse,
    };

    public static Command Create()
    {
        var command = new Command("calibrate",
            "Post-training quantisation: calibrate a saved model with each observer and compare float and quantised test accuracy.")
        {
            Checkpoint, EvalCommand.Data, EvalCommand.Labels, EvalCommand.LabelColumn, Observers, Batches, BatchSize, WeightBits, ActivationBits,
        };
        command.SetAction(Execute);
        return command;
    }

    private static int Execute(ParseResult parse)
    {
        var observers = ParseObservers(parse.GetValue(Observers) ?? []);
        int batches = parse.GetValue(Batches), batchSize = parse.GetValue(BatchSize);
        if (batches < 1 || batchSize < 1)
            throw new InvalidInputException("--batches and --batch-size must be at least 1");
        var config = new QuantConfig
        {
            Weights = QuantScheme.WeightInt8PerChannel with { Bits = parse.GetValue(WeightBits) },
            Activations = QuantScheme.ActivationInt8 with { Bits = parse.GetValue(ActivationBits) },
        };
        config.Validate();

        var checkpoint = parse.GetValue(Checkpoint)!;
        var (model, descriptor) = ModelCheckpoint.Load(checkpoint);
        using var _ = model;
        var (options, baseDirectory, seed) = EvalCommand.DataFor(parse, checkpoint, descriptor);
        using var data = DatasetLoader.Load(options, baseDirectory, seed);
        if (!data.InputShape.SequenceEqual(descriptor.InputShape))
            throw new InvalidInputException(
                $"{parse.GetValue(EvalCommand.Data)}: calibration samples have shape [{string.Join(",", data.InputShape)}], but {checkpoint} takes [{string.Join(",", descriptor.InputShape)}]");
        var results = PostTrainingCalibrator.Compare(model, data.Train, data.Test, batches, batchSize, config, observers, seed);

        if (parse.GetValue(GlobalOptions.Json))
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(results.Select(r => new
            {
                observer = Name(r.Observer),
                float_accuracy = r.FloatAccuracy,
                quantized_accuracy = r.QuantizedAccuracy,
                calibration_samples = r.CalibrationSamples,
                calibration_seconds = r.CalibrationTime.TotalSeconds,
            }), new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Success;
        }
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("observer")
            .AddColumn(new TableColumn("float acc").RightAligned())
            .AddColumn(new TableColumn($"w{config.Weights.Bits}/a{config.Activations.Bits} acc").RightAligned())
            .AddColumn(new TableColumn("change").RightAligned())
            .AddColumn(new TableColumn("calibration").RightAligned());
        foreach (var r in results)
        {
            table.AddRow(Name(r.Observer),
                r.FloatAccuracy.ToString("P2", CultureInfo.InvariantCulture),
                r.QuantizedAccuracy.ToString("P2", CultureInfo.InvariantCulture),
                ((r.QuantizedAccuracy - r.FloatAccuracy) * 100).ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture) + " pt",
                $"{r.CalibrationSamples:N0} samples, {r.CalibrationTime.TotalSeconds:F1} s");
        }
        AnsiConsole.Console.Write(table);
        Console.Out.WriteLine($"{checkpoint}: {descriptor.Describe()}; test split of {parse.GetValue(EvalCommand.Data)}");
        return ExitCodes.Success;
    }

    private static List<ObserverKind> ParseObservers(string[] names)
    {
        if (names.Length == 0)
            return [.. ObserverNames.Values];
        return names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(n => ObserverNames.TryGetValue(n, out var kind)
                ? kind
                : throw new InvalidInputException($"--observer: unknown observer '{n}'; choose from {string.Join(", ", ObserverNames.Keys)}"))
            .Distinct()
            .ToList();
    }

    private static string Name(ObserverKind kind) => ObserverNames.First(kv => kv.Value == kind).Key;
}
