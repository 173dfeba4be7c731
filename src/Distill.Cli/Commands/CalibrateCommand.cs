using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using Distill.Core.Training;
using Distill.Recipes.Targets;
using Spectre.Console;

namespace Distill.Cli.Commands;

/// <summary>`distill calibrate`: post-training quantisation of a saved model, one row per observer; with --save, the
/// calibrated model as a checkpoint that `distill export` and `distill eval` take.</summary>
public static class CalibrateCommand
{
    private static readonly Argument<string> Checkpoint = new("checkpoint")
    {
        Description = "Model checkpoint: a file, or runs:/<run name, id or id prefix>/models/student.ckpt in the run store",
    };

    private static readonly Option<string[]> ObserverOption = new("--observer")
    {
        Description = $"Activation observer(s): {string.Join(", ", Observers.Registry.Names)} (repeatable; {string.Join(" and ", Observers.Registry.Entries.SelectMany(e => e.Aliases))} still accepted; default: all, or the --target's calibration method)",
        Arity = ArgumentArity.ZeroOrMore,
    };

    private static readonly Option<string?> Target = new("--target")
    {
        Description = "Calibrate with the integer schemes of this target profile (a name from distill targets list, or a profile YAML), so that `distill export --target` uses the saved qparams",
    };

    private static readonly Option<string?> Save = new("--save")
    {
        Description = "Write the calibrated model (one observer) to this checkpoint file, with its quantization section, for `distill export <file> --target …` or `distill eval`",
    };

    private static readonly Option<int> Batches = new("--batches")
    {
        Description = "Calibration batches drawn from the training split",
        DefaultValueFactory = _ => 16,
    };

    private static readonly Option<int> BatchSize = new("--batch-size") { DefaultValueFactory = _ => 64 };
    private static readonly Option<int> WeightBits = new("--weight-bits") { DefaultValueFactory = _ => 8 };
    private static readonly Option<int> ActivationBits = new("--activation-bits") { DefaultValueFactory = _ => 8 };

    public static Command Create()
    {
        var command = new Command("calibrate",
            "Post-training quantisation: calibrate a saved model with each observer and compare float and quantised test accuracy.")
        {
            Checkpoint, EvalCommand.Data, EvalCommand.Labels, EvalCommand.LabelColumn, ObserverOption, Target, Batches, BatchSize, WeightBits, ActivationBits, Save,
        };
        command.SetAction(Execute);
        return command;
    }

    private static int Execute(ParseResult parse)
    {
        var profile = parse.GetValue(Target) is { } target ? TargetCatalog.Resolve(target) : null;
        if (profile is not null && !profile.IsInteger)
            throw new InvalidInputException($"--target {profile.Name}: is a {ModelCard.Precision(profile.Precision)} target; calibration is for int8 targets");
        if (profile is { QuantizesActivations: false })
            throw new InvalidInputException($"--target {profile.Name}: {profile.Format.Title} int8 quantises weights only and needs no calibration; export the float student to it directly");
        if (profile is not null && (parse.GetResult(WeightBits) is { Implicit: false } || parse.GetResult(ActivationBits) is { Implicit: false }))
            throw new InvalidInputException($"--weight-bits and --activation-bits cannot be combined with --target: the profile {profile.Name} sets the schemes");
        var observers = ParseObservers(parse.GetValue(ObserverOption) ?? [], profile);
        int batches = parse.GetValue(Batches), batchSize = parse.GetValue(BatchSize);
        if (batches < 1 || batchSize < 1)
            throw new InvalidInputException("--batches and --batch-size must be at least 1");
        var config = profile?.QuantConfig() ?? new QuantConfig
        {
            Weights = QuantScheme.WeightInt8PerChannel with { Bits = parse.GetValue(WeightBits) },
            Activations = QuantScheme.ActivationInt8 with { Bits = parse.GetValue(ActivationBits) },
        };
        config.Validate();
        string? save = parse.GetValue(Save) is { } s ? Path.GetFullPath(s) : null;
        if (save is not null && observers.Count != 1)
            throw new InvalidInputException($"--save writes one calibrated model: choose its observer with --observer ({string.Join(", ", Observers.Registry.Names)})");
        if (save is not null && Directory.Exists(save))
            throw new InvalidInputException($"--save {save}: is a folder; give the checkpoint file to write");

        var checkpoint = RunFiles.Resolve(parse, parse.GetValue(Checkpoint)!, "checkpoint");
        var (model, descriptor) = ModelCheckpoint.Load(checkpoint);
        using var _ = model;
        var (loaded, seed) = ClassifierData.Load(parse, checkpoint, descriptor);
        using var data = loaded;
        var results = PostTrainingCalibrator.Compare(model, data.Train, data.Test, batches, batchSize, config, observers, seed);
        if (save is not null)
        {
            // The same seeded batches as the comparison: the saved qparams are those of its row.
            using var quantized = PostTrainingCalibrator.Calibrate(model, data.Train, batches, batchSize, config with { ActivationObserver = observers[0] }, seed);
            QuantState.SaveModel(save, model, descriptor.Normalization, quantized, CheckpointFile.Read(checkpoint).Sections);
        }

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
        if (save is not null)
        {
            Console.Out.WriteLine($"saved the {Name(observers[0])}-calibrated model to {save}; export it with: distill export {save} --target {profile?.Name ?? "<target>"} --data {parse.GetValue(EvalCommand.Data)} --out <folder>");
            if (profile is null)
                Console.Out.WriteLine("(calibrated with the default int8 schemes; a target whose schemes differ calibrates again on export: pass --target to calibrate for it)");
        }
        return ExitCodes.Success;
    }

    /// <summary>The observers named (recipe spellings, or the earlier minmax/moving-average); none named: the target's
    /// calibration method, or all.</summary>
    private static List<ObserverKind> ParseObservers(string[] names, TargetProfile? profile)
    {
        if (names.Length == 0)
            return profile is null ? [.. Observers.Registry.Entries.Select(e => e.Kind)] : [profile.Calibration];
        return names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(n => Observers.Registry.Find(n, aliases: true)?.Kind
                ?? throw new InvalidInputException("--observer: " + Observers.Registry.UnknownMessage(n)))
            .Distinct()
            .ToList();
    }

    private static string Name(ObserverKind kind) => Observers.NameOf(kind);
}
