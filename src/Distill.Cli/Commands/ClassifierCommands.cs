using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Export;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using Distill.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Cli.Commands;

/// <summary>Image and tabular classifiers in `distill export` and `distill eval`: a checkpoint (with its quantised view,
/// if it has one) and a recipe, IDX or CSV file (<see cref="ClassifierData"/>); an exported file measured in its
/// runtime on data preprocessed as its model card says.</summary>
internal sealed class ClassifierCommands : IFamilyCommands
{
    public bool IsCheckpoint(string path) => true;

    public bool IsCard(JsonObject card) => true;

    public string ExportData => "a checkpoint file (a recipe, IDX or CSV file)";

    public LoadedExport LoadExport(ParseResult parse, ExportSubject subject)
    {
        var (model, descriptor, quantized) = QuantState.LoadModel(subject.Checkpoint);
        DataSplits? data = null;
        try
        {
            var (options, baseDirectory, seed) = ClassifierData.For(parse, subject.DataPath, ModelInput.Of(subject.Checkpoint, descriptor), subject.RecipeFolder);
            data = DatasetLoader.Load(options, baseDirectory, seed);
            var export = new ClassifierExport(new ExportRequest(model, quantized, subject.Profile, data.Train, data.Test, descriptor.Normalization,
                subject.Output, subject.Source)
            {
                CalibrationBatches = parse.GetValue(ExportCommand.CalibrationBatches),
                Seed = seed,
                ExposeTaps = parse.GetValue(ExportCommand.ExposeTaps),
                Reading = descriptor.Reading,
                Log = Output.CliLogging.Create(parse.GetValue(GlobalOptions.Verbose)),
                Progress = Console.IsErrorRedirected ? null : new Output.VerificationProgressPrinter(Console.Error),
                Energy = Core.Export.Energy.EnergyMeter.Create(wattsPerCore: parse.GetValue(ExportCommand.WattsPerCore)),
            });
            return new LoadedExport(export, model, quantized, data);
        }
        catch
        {
            data?.Dispose();
            quantized?.Dispose();
            model.Dispose();
            throw;
        }
    }

    /// <summary>Accuracy and loss on the data's test split; a quantised checkpoint through its fake-quant view.</summary>
    public EvalOutput EvaluateCheckpoint(ParseResult parse, string checkpoint, string dataPath)
    {
        var (model, descriptor, quantized) = QuantState.LoadModel(checkpoint);
        using var _ = model;
        using var __ = quantized;
        using var data = ClassifierData.Load(parse, checkpoint, descriptor).Data;

        var clock = Stopwatch.StartNew();
        // A quantised model is measured as it will be deployed: through its fake-quant view.
        var result = quantized is null ? Evaluator.Evaluate(model, data.Test) : Evaluator.Evaluate(quantized, data.Test);
        clock.Stop();
        return new EvalOutput(new()
        {
            ["checkpoint"] = checkpoint,
            ["data"] = dataPath,
            ["quantized"] = quantized is not null,
            ["samples"] = result.Samples,
            ["accuracy"] = result.Accuracy,
            ["loss"] = result.Loss,
            ["seconds"] = clock.Elapsed.TotalSeconds,
        }, string.Format(CultureInfo.InvariantCulture,
            "{0}: {1}{2} on {3:N0} samples: accuracy {4:P2}, loss {5:F4} ({6:F2} s)",
            checkpoint, descriptor.Describe(), quantized is null ? "" : ", quantised", result.Samples, result.Accuracy, result.Loss, clock.Elapsed.TotalSeconds));
    }

    /// <summary>Accuracy, size and latency of an exported file in its runtime, on every sample of the data's test split.</summary>
    public EvalOutput EvaluateFile(ParseResult parse, string path, ExportBackend backend, JsonObject card, string dataPath)
    {
        var input = ClassifierData.InputOf(path, card);
        var (options, baseDirectory, seed) = ClassifierData.For(parse, dataPath, input);
        using var data = DatasetLoader.Load(options, baseDirectory, seed);
        if (!data.InputShape.SequenceEqual(input.Shape))
            throw new InvalidInputException(
                $"{dataPath}: samples have shape [{string.Join(", ", data.InputShape)}], but {path} takes [{string.Join(", ", input.Shape)}]");

        using var scope = NewDisposeScope();
        var run = backend.RunClassifier(path, data.Test.Features, new RuntimeSettings());
        double accuracy = run.Logits.argmax(1).eq(data.Test.Labels).to_type(ScalarType.Float64).mean().item<double>();
        long size = new FileInfo(path).Length;
        var latencies = run.Latencies;
        return new EvalOutput(new()
        {
            ["model"] = path,
            ["data"] = dataPath,
            ["runtime"] = backend.Runtime,
            ["samples"] = data.Test.Count,
            ["accuracy"] = accuracy,
            ["size_bytes"] = size,
            ["latency_ms_b1"] = latencies[0].MedianMs,
            ["latency_ms_b64"] = latencies.Count > 1 ? latencies[1].MedianMs : null,
        }, string.Format(CultureInfo.InvariantCulture,
            "{0}: {1} on {2:N0} samples: accuracy {3:P2}, size {4}, latency {5}",
            path, backend.Runtime, data.Test.Count, accuracy, Output.SummaryTable.Bytes(size),
            string.Join(", ", latencies.Select(l => $"{l.MedianMs:F3} ms at batch {l.Batch}"))));
    }
}
