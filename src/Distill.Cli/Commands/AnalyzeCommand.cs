using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Distill.Cli.Output;
using Distill.Core;
using Distill.Core.Models;
using Distill.Core.Quantization.Sensitivity;
using Distill.Core.Text;
using Distill.Core.Tracking;
using Distill.Core.Training;
using Spectre.Console;

namespace Distill.Cli.Commands;

/// <summary>`distill analyze &lt;checkpoint&gt; --data … --out &lt;dir&gt;`: per-layer quantisation sensitivity of a
/// classifier or a language model, as a table, sensitivity.csv, sensitivity.json and a bar chart, sensitivity.png.</summary>
public static class AnalyzeCommand
{
    private static readonly Argument<string> Checkpoint = new("checkpoint")
    {
        Description = "Model checkpoint (a classifier or a language model): a file, or runs:/<run name, id or id prefix>/models/student.ckpt",
    };

    private static readonly Option<string> Out = new("--out") { Description = "Folder for sensitivity.csv, sensitivity.json and sensitivity.png (created)", Required = true };

    private static readonly Option<string> Bits = new("--bits")
    {
        Description = "Candidate weight widths, comma-separated (classifiers: 2..8; language models: 8 and/or 4, int4 in groups)",
        DefaultValueFactory = _ => "8,4",
    };

    private static readonly Option<int?> GroupSize = new("--group-size")
    {
        Description = "Language models: the int4 group size (default: 32, or 16 when 32 does not divide every layer)",
    };

    private static readonly Option<int> CalibrationBatches = new("--calibration-batches")
    {
        Description = "Classifiers: training batches of 64 that calibrate each layer's output range",
        DefaultValueFactory = _ => 8,
    };

    public static Command Create()
    {
        var command = new Command("analyze",
            "Per-layer quantisation sensitivity: each layer quantised alone at each candidate width, the rest float; the loss in test accuracy (language models: bits per byte) and the SQNR, as a table, CSV, JSON and a bar chart.")
        {
            Checkpoint, EvalCommand.Data, EvalCommand.Labels, EvalCommand.LabelColumn, Out, Bits, GroupSize, CalibrationBatches,
        };
        command.SetAction(Execute);
        return command;
    }

    private static int Execute(ParseResult parse)
    {
        var bits = ParseBits(parse.GetValue(Bits)!);
        int batches = parse.GetValue(CalibrationBatches);
        if (batches < 1)
            throw new InvalidInputException($"--calibration-batches must be at least 1, got {batches}");
        string output = Path.GetFullPath(parse.GetValue(Out)!);
        if (File.Exists(output))
            throw new InvalidInputException($"--out {output}: is a file; give a folder");
        var checkpoint = RunFiles.Resolve(parse, parse.GetValue(Checkpoint)!, "checkpoint");
        if (!File.Exists(checkpoint))
            throw new InvalidInputException($"{checkpoint}: no such checkpoint file");
        string data = parse.GetValue(EvalCommand.Data)!;

        var report = LmCheckpoint.IsLanguageModel(checkpoint)
            ? LanguageModel(checkpoint, data, bits, parse.GetValue(GroupSize))
            : Classifier(parse, checkpoint, bits, batches);

        report.WriteInto(output);
        string json = report.ToJson(output);

        if (parse.GetValue(GlobalOptions.Json))
        {
            Console.Out.WriteLine(json);
            return ExitCodes.Success;
        }
        Print(report, output);
        return ExitCodes.Success;
    }

    private static SensitivityReport LanguageModel(string checkpoint, string data, IReadOnlyList<int> bits, int? groupSize)
    {
        if (bits.Any(b => b is not (8 or 4)))
            throw new InvalidInputException($"--bits {string.Join(",", bits)}: language models are analysed at 8 (int8 per output feature) and 4 (int4 groups) bits");
        var (model, tokenizer, _) = LmCheckpoint.Load(checkpoint);
        using var _ = model;
        var (validation, _, training) = LanguageModelCommands.Windows(data, model.Options.Context, tokenizer, withTraining: true);
        using var __ = validation;
        using var ___ = training;
        return LmSensitivity.Analyze(model, tokenizer, validation, training ?? validation, bits, groupSize);
    }

    private static SensitivityReport Classifier(ParseResult parse, string checkpoint, IReadOnlyList<int> bits, int batches)
    {
        var (model, descriptor) = ModelCheckpoint.Load(checkpoint);
        using var _ = model;
        var (loaded, seed) = ClassifierData.Load(parse, checkpoint, descriptor);
        using var data = loaded;
        return ClassifierSensitivity.Analyze(model, descriptor.Describe(), data.Train, data.Test, bits, batches, 64, seed);
    }

    private static List<int> ParseBits(string text)
    {
        var bits = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int b) || b is < 2 or > 8)
                throw new InvalidInputException($"--bits {text}: '{part}' is not a width of 2..8 bits");
            if (!bits.Contains(b))
                bits.Add(b);
        }
        return bits;
    }

    private static void Print(SensitivityReport report, string output)
    {
        bool bpb = report.Metric == "val_bpb";
        Console.Out.WriteLine($"{report.Model}: float {(bpb ? $"{report.Baseline:F4} bits/byte" : MetricFormat.Percent(report.Baseline))} ({report.Metric})");
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("layer").AddColumn("precision").AddColumn(new TableColumn("parameters").RightAligned())
            .AddColumn(new TableColumn(bpb ? "bits/byte" : "accuracy").RightAligned()).AddColumn(new TableColumn(bpb ? "Δ bits/byte" : "accuracy lost").RightAligned())
            .AddColumn(new TableColumn("SQNR dB").RightAligned());
        foreach (var l in report.Layers)
        {
            table.AddRow(ConsoleText.Markup(l.Layer), l.Precision, l.Parameters.ToString("N0", CultureInfo.InvariantCulture),
                bpb ? l.Metric.ToString("F4", CultureInfo.InvariantCulture) : MetricFormat.Percent(l.Metric),
                bpb ? l.Loss.ToString("+0.0000;-0.0000;0", CultureInfo.InvariantCulture) : (l.Loss * 100).ToString("+0.00;-0.00;0", CultureInfo.InvariantCulture) + " pt",
                l.SqnrDb is { } s ? s.ToString("F1", CultureInfo.InvariantCulture) : "exact");
        }
        AnsiConsole.Console.Write(table);
        var worst = report.ByLoss.First();
        Console.Out.WriteLine($"most sensitive: {worst.Layer} at {worst.Precision}");
        Console.Out.WriteLine($"method: {report.Method}");
        Console.Out.WriteLine($"wrote {Path.Combine(output, SensitivityReport.CsvName)}, {SensitivityReport.JsonName} and {SensitivityReport.PlotName}");
    }
}
