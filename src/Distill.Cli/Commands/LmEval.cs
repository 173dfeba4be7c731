using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Export.Onnx;
using Distill.Core.Text;
using Distill.Recipes;

namespace Distill.Cli.Commands;

/// <summary>`distill eval` of a language-model checkpoint: validation cross-entropy, bits per byte and perplexity
/// on a text recipe's validation split (the same windows its run measured), or on every window of a text file.</summary>
internal static class LmEval
{
    public static int Execute(string checkpoint, string dataPath, bool json)
    {
        var (model, tokenizer, header) = LmCheckpoint.Load(checkpoint);
        using var _ = model;
        var (windows, what) = Windows(dataPath, model.Options.Context, tokenizer);
        using var __ = windows;
        var clock = Stopwatch.StartNew();
        var result = LmEvaluator.Evaluate(model, windows, tokenizer, 64);
        clock.Stop();
        Print([("checkpoint", checkpoint)], $"{checkpoint}: {LmCheckpoint.Describe(header.Model)}", dataPath, what, windows.Count,
            result, clock.Elapsed.TotalSeconds, json);
        return ExitCodes.Success;
    }

    /// <summary>`distill eval model.onnx` of a language-model ONNX file: the same figures, computed in ONNX Runtime.</summary>
    public static int ExecuteOnnx(string path, string dataPath, bool json, int threads)
    {
        using var runner = new OnnxLmRunner(path, threads);
        var (windows, what) = Windows(dataPath, runner.Context, runner.Tokenizer);
        using var _ = windows;
        var clock = Stopwatch.StartNew();
        var result = OnnxLmEvaluator.Evaluate(runner, windows, runner.Tokenizer, 32).Evaluation;
        clock.Stop();
        Print([("model", path), ("runtime", "ONNX Runtime (CPU)")], $"{path}: ONNX Runtime, {runner.Card["target"]?["precision"]}",
            dataPath, what, windows.Count, result, clock.Elapsed.TotalSeconds, json);
        return ExitCodes.Success;
    }

    /// <summary>One evaluation as JSON (the source's keys first) or as a line of text after <paramref name="described"/>.</summary>
    private static void Print(IReadOnlyList<(string Key, object Value)> source, string described, string dataPath, string what, long windows,
        LmEvaluation result, double seconds, bool json)
    {
        if (json)
        {
            var fields = source.ToDictionary(f => f.Key, f => (object?)f.Value);
            fields["data"] = dataPath;
            fields["split"] = what;
            fields["windows"] = windows;
            fields["tokens"] = result.Tokens;
            fields["bytes"] = result.Bytes;
            fields["cross_entropy"] = result.CrossEntropy;
            fields["bits_per_byte"] = result.BitsPerByte;
            fields["perplexity"] = result.Perplexity;
            fields["seconds"] = seconds;
            Console.Out.WriteLine(JsonSerializer.Serialize(fields, new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        Console.Out.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "{0} on {1} ({2:N0} tokens): cross-entropy {3:F4} nats/token, {4:F4} bits/byte, perplexity {5:F3} ({6:F2} s)",
            described, what, result.Tokens, result.CrossEntropy, result.BitsPerByte, result.Perplexity, seconds));
    }

    /// <summary>A text recipe's validation split (as its run measured it), or every window of a text file.</summary>
    /// <param name="baseDirectory">Folder the recipe's relative paths are taken from (a run's recorded recipe folder);
    /// null: the recipe's own folder.</param>
    internal static (TokenWindows Windows, string What) Windows(string dataPath, int context, ITokenizer tokenizer, string? baseDirectory = null)
    {
        var extension = Path.GetExtension(dataPath).ToLowerInvariant();
        if (extension is ".yaml" or ".yml")
        {
            // Only the recipe's data is used, on the CPU: the device it trained on does not matter here.
            var plan = baseDirectory is null
                ? RecipeLoader.Load(dataPath, devices: DeviceSupport.Any)
                : RecipeLoader.LoadText(File.ReadAllText(dataPath), dataPath, baseDirectory, devices: DeviceSupport.Any);
            if (plan.Data.Format != DataFormat.Text)
                throw new InvalidInputException($"{dataPath}: not a text recipe (data.format: text), but the checkpoint is a language model");
            var options = plan.Data.Text!;
            if (options.Context > context)
                throw new InvalidInputException(
                    $"{dataPath}: data.context ({options.Context}) is longer than the model's context ({context} tokens)");
            var path = Path.IsPathRooted(plan.Data.TextPath!) ? plan.Data.TextPath! : Path.Combine(plan.BaseDirectory, plan.Data.TextPath!);
            using var full = TextData.Load(path, options, tokenizer);
            using var limited = full.Limit(null, plan.Data.MaxValidationWindows);
            return (limited.Validation.Subset(0, limited.Validation.Count), "the validation split");
        }
        using var all = TextData.Load(dataPath, new TextDataOptions { Tokenizer = tokenizer.Kind, Context = context, ValidationFraction = 0, Blocks = 1 }, tokenizer);
        return (all.Train.Subset(0, all.Train.Count), "every window of the file");
    }
}
