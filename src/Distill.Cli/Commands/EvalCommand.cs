using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Core;
using Distill.Core.Export;
using Distill.Core.Export.Targets;

namespace Distill.Cli.Commands;

/// <summary>`distill eval &lt;checkpoint|exported file&gt; --data …`: a model's figures on a data set, by the family of the
/// checkpoint or of the exported file's model card (<see cref="ModelFamilies"/>); an exported file runs in its format's
/// runtime.</summary>
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
        var path = RunFiles.Resolve(parse, parse.GetValue(Checkpoint)!, "checkpoint");
        string data = parse.GetValue(Data)!;
        var output = ExportBackends.ForFile(path) is { } backend
            ? EvaluateFile(parse, path, backend, data)
            : ModelFamilies.ForCheckpoint(path).EvaluateCheckpoint(parse, path, data);
        Console.Out.WriteLine(parse.GetValue(GlobalOptions.Json)
            ? JsonSerializer.Serialize(output.Fields, new JsonSerializerOptions { WriteIndented = true })
            : output.Line);
        return ExitCodes.Success;
    }

    /// <summary>An exported file, by the family its model card names, in its format's runtime.</summary>
    private static EvalOutput EvaluateFile(ParseResult parse, string path, ExportBackend backend, string data)
    {
        if (!File.Exists(path))
            throw new InvalidInputException($"{path}: no such model file");
        var card = ReadCard(path, backend);
        return ModelFamilies.ForCard(card).EvaluateFile(parse, path, backend, card, data);
    }

    /// <summary>model_card.json next to the file, else the card the file itself holds (<see cref="ExportBackend.CardInFile"/>).</summary>
    private static JsonObject ReadCard(string path, ExportBackend backend)
    {
        string sibling = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ModelCard.FileName);
        string? json = null;
        string from = sibling;
        if (File.Exists(sibling))
        {
            json = File.ReadAllText(sibling);
        }
        else if (backend.CardInFile is not null)
        {
            json = backend.ReadCardInFile(path);
            from = $"{path} (metadata {ModelCard.MetadataKey})";
        }
        if (json is null)
            throw new InvalidInputException(
                $"{path}: no model card: distill eval needs the {ModelCard.FileName} that distill export writes next to the file{(backend.CardInFile is { } where ? $" (or the card in {where})" : "")}");
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
