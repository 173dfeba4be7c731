using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Distill.Core;
using Distill.Core.Export;
using Distill.Core.Text;

namespace Distill.Cli.Commands;

/// <summary>`distill generate`: text from a language-model checkpoint, streamed to stdout as it is decoded; with
/// --draft, by speculative decoding with a smaller model of the same tokenizer.</summary>
public static class GenerateCommand
{
    private static readonly Argument<string> Checkpoint = new("checkpoint")
    {
        Description = "Language-model checkpoint (a transformer-lm run's models/student.ckpt or models/teacher.ckpt), or its model.onnx from distill export (run in ONNX Runtime); a file, or runs:/<run name, id or id prefix>/<artifact path> in the run store",
    };

    private static readonly Option<string> Prompt = new("--prompt") { Description = "Text to continue", Required = true };
    private static readonly Option<int> MaxTokens = new("--max-tokens") { Description = "New tokens to generate", DefaultValueFactory = _ => 200 };
    private static readonly Option<double> Temperature = new("--temperature")
    {
        Description = "Sampling temperature; 0 = greedy (always the most likely token)",
        DefaultValueFactory = _ => 1.0,
    };
    private static readonly Option<int> TopK = new("--top-k") { Description = "Sample among the K most likely tokens only; 0 = all" };
    private static readonly Option<int> Seed = new("--seed") { Description = "Seed of the sampler: same seed, same text" };
    private static readonly Option<string?> Draft = new("--draft")
    {
        Description = "A smaller language model with the same tokenizer (checkpoint or model.onnx, e.g. the distilled student) that drafts tokens for speculative decoding: greedy text is token for token the model's own, sampled text follows the model's distribution",
    };
    private static readonly Option<int> DraftTokens = new("--draft-tokens")
    {
        Description = "Tokens the draft proposes per step, checked by the model in one pass",
        DefaultValueFactory = _ => 4,
    };

    private static readonly Option<ContextOverflow> Overflow = new("--overflow")
    {
        Description = "Past the model's context: slide (each token from the last context tokens; a KV-cache file reruns the window every step) or restart (when the window is full, go on from its last half: a KV-cache file stays one position per token)",
        DefaultValueFactory = _ => ContextOverflow.Slide,
    };

    public static Command Create()
    {
        var command = new Command("generate", "Continue a prompt with a language-model checkpoint or its exported model.onnx; streams the text and reports tokens per second.")
        {
            Checkpoint, Prompt, MaxTokens, Temperature, TopK, Seed, Draft, DraftTokens, Overflow,
        };
        command.SetAction(Execute);
        return command;
    }

    private static int Execute(ParseResult parse)
    {
        var path = RunFiles.Resolve(parse, parse.GetValue(Checkpoint)!, "checkpoint");
        int threads = parse.GetValue(GlobalOptions.Threads) ?? 1;
        var (model, tokenizer, describe, owner) = Load(path, threads);
        using var __ = owner;
        string? draftPath = parse.GetValue(Draft) is { } draftArgument ? RunFiles.Resolve(parse, draftArgument, "draft") : null;
        (INextTokenModel Model, ITokenizer Tokenizer, string Describe, IDisposable Owner)? draft = draftPath is null ? null : Load(draftPath, threads);
        using var ___ = draft?.Owner;
        if (draft is { } d && TokenizerFile.ToJson(d.Tokenizer) != TokenizerFile.ToJson(tokenizer))
        {
            throw new InvalidInputException(
                $"{draftPath}: the draft reads {d.Tokenizer.Kind} tokens ({d.Tokenizer.VocabSize}) and {path} {tokenizer.Kind} tokens ({tokenizer.VocabSize}): a draft must share the model's tokenizer");
        }
        var options = new GenerationOptions
        {
            MaxTokens = parse.GetValue(MaxTokens),
            Temperature = parse.GetValue(Temperature),
            TopK = parse.GetValue(TopK),
            Seed = parse.GetValue(Seed),
            Overflow = parse.GetValue(Overflow),
        };
        bool json = parse.GetValue(GlobalOptions.Json);
        var generator = new TextGenerator(model, tokenizer)
        {
            Draft = draft is null ? null : new SpeculativeDraft(draft.Value.Model, parse.GetValue(DraftTokens)),
        };
        string prompt = parse.GetValue(Prompt)!;
        GenerationResult result;
        if (json)
        {
            result = generator.Generate(prompt, options);
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                checkpoint = path,
                model = describe,
                prompt,
                text = result.Text,
                prompt_tokens = result.PromptTokens,
                tokens = result.Tokens.Length,
                seconds = result.Elapsed.TotalSeconds,
                tokens_per_second = result.TokensPerSecond,
                temperature = options.Temperature,
                top_k = options.TopK,
                seed = options.Seed,
                overflow = options.Overflow.ToString().ToLowerInvariant(),
                kv_cache = model is IKvCacheModel,
                draft = draftPath,
                draft_model = draft?.Describe,
                draft_tokens = draft is null ? (int?)null : parse.GetValue(DraftTokens),
                acceptance_rate = result.Speculation?.AcceptanceRate,
                proposed = result.Speculation?.Proposed,
                accepted = result.Speculation?.Accepted,
                target_calls = result.Speculation?.TargetCalls,
                draft_calls = result.Speculation?.DraftCalls,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Success;
        }
        // The prompt is echoed once generation has started, so that a rejected prompt prints nothing on stdout.
        // A byte-level model can emit any character of its corpus: control characters are shown escaped.
        var output = Console.Out;
        bool started = false;
        void Emit(string piece)
        {
            if (!started)
            {
                output.Write(PrintableText.EscapeLines(prompt));
                started = true;
            }
            output.Write(PrintableText.EscapeLines(piece));
            output.Flush();
        }
        result = generator.Generate(prompt, options, Emit);
        Emit("");
        output.WriteLine();
        Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "{0} tokens in {1:F2} s: {2:F1} tokens/s ({3})",
            result.Tokens.Length, result.Elapsed.TotalSeconds, result.TokensPerSecond, describe));
        if (result.Speculation is { } speculation)
        {
            Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "draft {0} ({1}): {2} of {3} proposed tokens accepted ({4:P1}); {5} passes of the model, {6} of the draft",
                draftPath, draft!.Value.Describe, speculation.Accepted, speculation.Proposed, speculation.AcceptanceRate, speculation.TargetCalls, speculation.DraftCalls));
        }
        return ExitCodes.Success;
    }

    /// <summary>A checkpoint in TorchSharp, or an exported file of a format that holds language models (model.onnx) in
    /// its runtime with <paramref name="threads"/> intra-op threads (its tokenizer and context come from the model card
    /// in the file).</summary>
    private static (INextTokenModel Model, ITokenizer Tokenizer, string Describe, IDisposable Owner) Load(string path, int threads)
    {
        if (ExportBackends.ForFile(path) is { LanguageModels: { } lm } backend)
        {
            var file = lm.Open(path, threads);
            string describe = string.Format(CultureInfo.InvariantCulture, "{0}, {1}, {2}, {3:N0} parameters{4}",
                backend.RuntimeName, file.Card["target"]?["precision"], file.Tokenizer.Kind, file.Card["model"]?["parameters"]?.GetValue<long>() ?? 0,
                file is IKvCacheModel ? ", KV cache" : "");
            return (file, file.Tokenizer, describe, file);
        }
        var (model, tokenizer, _) = LmCheckpoint.Load(path);
        return (new TorchNextTokenModel(model), tokenizer, string.Format(CultureInfo.InvariantCulture, "{0}, {1:N0} parameters", tokenizer.Kind, model.ParameterCount), model);
    }
}
