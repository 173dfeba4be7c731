using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Export;
using Distill.Core.Export.Onnx;
using Distill.Core.Export.Targets;
using Distill.Core.Export.Tflite;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Cli.Commands;

/// <summary>`distill eval model.onnx|model.tflite`: accuracy and latency of an exported file in its runtime,
/// on data preprocessed as its model card says.</summary>
internal static class ExportedModelEval
{
    public static bool Handles(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".onnx" or ".tflite";

    public static int Execute(ParseResult parse, string path)
    {
        if (!File.Exists(path))
            throw new InvalidInputException($"{path}: no such model file");
        bool onnx = Path.GetExtension(path).Equals(".onnx", StringComparison.OrdinalIgnoreCase);
        var card = ReadCard(path, onnx);
        var model = card["model"]?.AsObject() ?? throw new InvalidInputException($"{path}: the model card has no model section");
        long[] inputShape = model["input_shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
        var pre = card["preprocessing"]!.AsObject();
        Normalization? normalization = pre["mean"] is JsonArray mean && pre["std"] is JsonArray std
            ? new Normalization([.. mean.Select(v => v!.GetValue<double>())], [.. std.Select(v => v!.GetValue<double>())])
            : null;

        var input = new ModelInput(path, inputShape, model["classes"]!.GetValue<int>(), normalization, Reading(pre));
        var (options, baseDirectory, seed) = EvalCommand.DataFor(parse, parse.GetValue(EvalCommand.Data)!, input);
        using var data = DatasetLoader.Load(options, baseDirectory, seed);
        if (!data.InputShape.SequenceEqual(inputShape))
            throw new InvalidInputException(
                $"{parse.GetValue(EvalCommand.Data)}: samples have shape [{string.Join(", ", data.InputShape)}], but {path} takes [{string.Join(", ", inputShape)}]");

        using var scope = NewDisposeScope();
        Tensor logits;
        var latencies = new List<ExportLatency>();
        string runtime;
        if (onnx)
        {
            runtime = "ONNX Runtime (CPU)";
            using (var runner = new OnnxRuntimeRunner(path))
                logits = runner.Run(data.Test.Features);
            foreach (int batch in new[] { 1, 64 })
            {
                var l = OnnxLatency.Measure(path, batch, TargetExporter.LatencyWarmup, TargetExporter.LatencyRuns, threads: 1);
                latencies.Add(new ExportLatency(runtime, batch, l.MedianMs, l.Runs, l.Threads, $"median of {l.Runs} runs, 1 thread"));
            }
        }
        else
        {
            runtime = "Arm NN (CpuRef)";
            using var runner = new ArmNnRunner(path);
            logits = runner.Run(data.Test.Features);
            latencies.Add(new ExportLatency(runtime, 1, runner.LastInferenceTime.TotalMilliseconds / data.Test.Count, (int)data.Test.Count, 1, "mean per sample"));
        }
        double accuracy = logits.argmax(1).eq(data.Test.Labels).to_type(ScalarType.Float64).mean().item<double>();
        long size = new FileInfo(path).Length;

        if (parse.GetValue(GlobalOptions.Json))
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                model = path,
                data = parse.GetValue(EvalCommand.Data),
                runtime,
                samples = data.Test.Count,
                accuracy,
                size_bytes = size,
                latency_ms_b1 = latencies[0].MedianMs,
                latency_ms_b64 = latencies.Count > 1 ? latencies[1].MedianMs : (double?)null,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Success;
        }
        Console.Out.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "{0}: {1} on {2:N0} samples: accuracy {3:P2}, size {4}, latency {5}",
            path, runtime, data.Test.Count, accuracy, Output.SummaryTable.Bytes(size),
            string.Join(", ", latencies.Select(l => $"{l.MedianMs:F3} ms at batch {l.Batch}"))));
        return ExitCodes.Success;
    }

    /// <summary>The card's record of how the training data was read; null in cards written before it was recorded.</summary>
    private static DataReading? Reading(JsonObject preprocessing) =>
        preprocessing["data_format"]?.GetValue<string>() switch
        {
            "idx" => new DataReading(DataFormat.Idx, DataReading.IdxScale, false, null),
            "csv" => new DataReading(DataFormat.Csv, preprocessing["scale"]!.GetValue<double>(), preprocessing["csv_header"]!.GetValue<bool>(),
                preprocessing["label_column"]?.GetValue<string>()),
            _ => null,
        };

    /// <summary>model_card.json next to the file, else (ONNX) the card in the file's metadata.</summary>
    private static JsonObject ReadCard(string path, bool onnx)
    {
        string sibling = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ModelCard.FileName);
        string? json = null;
        string from = sibling;
        if (File.Exists(sibling))
        {
            json = File.ReadAllText(sibling);
        }
        else if (onnx)
        {
            try
            {
                using var session = new InferenceSession(path);
                session.ModelMetadata.CustomMetadataMap.TryGetValue(ModelCard.MetadataKey, out json);
                from = $"{path} (metadata {ModelCard.MetadataKey})";
            }
            catch (OnnxRuntimeException e)
            {
                throw new InvalidInputException($"ONNX Runtime cannot load '{path}': {e.Message}", e);
            }
        }
        if (json is null)
            throw new InvalidInputException(
                $"{path}: no model card: distill eval needs the {ModelCard.FileName} that distill export writes next to the file{(onnx ? " (or the card in the ONNX metadata)" : "")}");
        try
        {
            return JsonNode.Parse(json)?.AsObject() ?? throw new InvalidInputException($"{from}: empty model card");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{from}: the model card is not valid JSON: {e.Message}", e);
        }
    }
}
