using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Distill.Core;
using Distill.Core.Data;
using Distill.Core.Export;
using Distill.Core.Export.Targets;
using Distill.Core.Text;
using Distill.Recipes;

namespace Distill.Cli.Commands;

/// <summary>Language models in `distill export` and `distill eval`: a checkpoint, or an exported file whose model card
/// says it is one, measured on a text recipe's validation split (the windows its run measured) or on every window of
/// a text file: cross-entropy, bits per byte and perplexity.</summary>
internal sealed class LanguageModelCommands : IFamilyCommands
{
    public bool IsCheckpoint(string path) => File.Exists(path) && LmCheckpoint.IsLanguageModel(path);

    public bool IsCard(JsonObject card) =>
        card["kind"] is JsonValue kind && kind.TryGetValue<string>(out var value) && value == LanguageModelExport.Kind;

    public string ExportData => "a language-model checkpoint file (a text recipe, whose validation split verifies the export, or a .txt file)";

    public LoadedExport LoadExport(ParseResult parse, ExportSubject subject)
    {
        // A profile no language model can be exported to is refused before the checkpoint is read.
        LanguageModelExport.WeightsFor(subject.Profile);
        var (model, tokenizer, _) = LmCheckpoint.Load(subject.Checkpoint);
        try
        {
            bool calibrate = subject.Profile.Precision == ExportPrecision.Int4 && (subject.Profile.Int4.Method == Int4Method.Gptq || subject.Profile.Int4.Auto is not null);
            var (windows, _, training) = Windows(subject.DataPath, model.Options.Context, tokenizer, subject.RecipeFolder, calibrate);
            var export = new LanguageModelExport(new LmExportRequest(model, tokenizer, subject.Profile, windows, subject.Output, subject.Source)
            {
                Threads = parse.GetValue(GlobalOptions.Threads) ?? 1,
                Calibration = training,
                CalibrationSource = $"the training split of {Path.GetFileName(subject.DataPath)}",
                Log = Distill.Cli.Output.CliLogging.Create(parse.GetValue(GlobalOptions.Verbose)),
            });
            return new LoadedExport(export, model, windows, training);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public EvalOutput EvaluateCheckpoint(ParseResult parse, string checkpoint, string dataPath)
    {
        var (model, tokenizer, header) = LmCheckpoint.Load(checkpoint);
        using var _ = model;
        var (windows, what, _) = Windows(dataPath, model.Options.Context, tokenizer);
        using var __ = windows;
        var clock = Stopwatch.StartNew();
        var result = LmEvaluator.Evaluate(model, windows, tokenizer, 64);
        clock.Stop();
        return Output([("checkpoint", checkpoint)], $"{checkpoint}: {LmCheckpoint.Describe(header.Model)}", dataPath, what, windows.Count,
            result, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The same figures, computed in the file's runtime.</summary>
    public EvalOutput EvaluateFile(ParseResult parse, string path, ExportBackend backend, JsonObject card, string dataPath)
    {
        var lm = backend.LanguageModels
            ?? throw new InvalidInputException($"{path}: its model card says it is a language model, but {backend.Title} files cannot hold one");
        using var file = lm.Open(path, parse.GetValue(GlobalOptions.Threads) ?? 1);
        var (windows, what, _) = Windows(dataPath, file.Context, file.Tokenizer);
        using var _ = windows;
        var clock = Stopwatch.StartNew();
        var result = file.Compare(windows, file.Tokenizer, 32).Evaluation;
        clock.Stop();
        return Output([("model", path), ("runtime", backend.Runtime)], $"{path}: {backend.RuntimeName}, {file.Card["target"]?["precision"]}",
            dataPath, what, windows.Count, result, clock.Elapsed.TotalSeconds);
    }

    /// <summary>One evaluation: JSON with the source's fields first, or a line after <paramref name="described"/>.</summary>
    private static EvalOutput Output(IReadOnlyList<(string Key, object Value)> source, string described, string dataPath, string what, long windows,
        LmEvaluation result, double seconds)
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
        return new EvalOutput(fields, string.Format(CultureInfo.InvariantCulture,
            "{0} on {1} ({2:N0} tokens): cross-entropy {3:F4} nats/token, {4:F4} bits/byte, perplexity {5:F3} ({6:F2} s)",
            described, what, result.Tokens, result.CrossEntropy, result.BitsPerByte, result.Perplexity, seconds));
    }

    /// <summary>A text recipe's validation split (as its run measured it), or every window of a text file.</summary>
    /// <param name="baseDirectory">Folder the recipe's relative paths are taken from (a run's recorded recipe folder);
    /// null: the recipe's own folder.</param>
    /// <param name="withTraining">Also return a recipe's training split (GPTQ calibrates on it); a text file has none.</param>
    internal static (TokenWindows Windows, string What, TokenWindows? Training) Windows(string dataPath, int context, ITokenizer tokenizer,
        string? baseDirectory = null, bool withTraining = false)
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
            return (limited.Validation.Subset(0, limited.Validation.Count), "the validation split",
                withTraining ? limited.Train.Subset(0, limited.Train.Count) : null);
        }
        using var all = TextData.Load(dataPath, new TextDataOptions { Tokenizer = tokenizer.Kind, Context = context, ValidationFraction = 0, Blocks = 1 }, tokenizer);
        return (all.Train.Subset(0, all.Train.Count), "every window of the file", null);
    }
}
