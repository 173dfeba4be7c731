using System.CommandLine;
using System.Text.Json.Nodes;
using Distill.Core.Export;
using Distill.Core.Export.Targets;

namespace Distill.Cli.Commands;

/// <summary>What `distill export` and `distill eval` do differently for each model family; the commands do the rest
/// once. A family recognises its checkpoints and exported files, loads a model with the data its export is verified on
/// (the Core side of the export is its <see cref="IFamilyExport{TReport}"/>), and evaluates a checkpoint or an
/// exported file.</summary>
internal interface IFamilyCommands
{
    /// <summary>Whether a checkpoint file is of this family.</summary>
    bool IsCheckpoint(string path);

    /// <summary>Whether an exported file's model card is of this family.</summary>
    bool IsCard(JsonObject card);

    /// <summary>What --data must be when a checkpoint file of the family is exported, for the message when it is missing:
    /// "a checkpoint file (a recipe, IDX or CSV file)".</summary>
    string ExportData { get; }

    /// <summary>Loads the checkpoint and the data its export is verified on.</summary>
    LoadedExport LoadExport(ParseResult parse, ExportSubject subject);

    EvalOutput EvaluateCheckpoint(ParseResult parse, string checkpoint, string dataPath);

    /// <summary>Evaluates an exported file in its backend's runtime; <paramref name="card"/> is its model card.</summary>
    EvalOutput EvaluateFile(ParseResult parse, string path, ExportBackend backend, JsonObject card, string dataPath);
}

/// <summary>The families, in the order they are asked; the classifiers come last and take every checkpoint and card the
/// others do not.</summary>
internal static class ModelFamilies
{
    private static readonly IFamilyCommands[] All = [new LanguageModelCommands(), new ClassifierCommands()];

    public static IFamilyCommands ForCheckpoint(string path) => All.First(f => f.IsCheckpoint(path));

    public static IFamilyCommands ForCard(JsonObject card) => All.First(f => f.IsCard(card));
}

/// <summary>What `distill export` exports, and where.</summary>
/// <param name="RecipeFolder">For a run's recorded recipe: the folder its relative paths are taken from; null: the recipe's own.</param>
internal sealed record ExportSubject(TargetProfile Profile, string Checkpoint, string DataPath, string Output, ExportSource Source, string? RecipeFolder);

/// <summary>A family's export with the model and data it was given; disposing frees them.</summary>
internal sealed class LoadedExport(IFamilyExport<ExportReport> export, params IDisposable?[] owned) : IDisposable
{
    public IFamilyExport<ExportReport> Export { get; } = export;

    public void Dispose()
    {
        Export.Dispose();
        foreach (var o in owned.Reverse())
            o?.Dispose();
    }
}

/// <summary>One evaluation as `distill eval` prints it: JSON fields in order, or one line.</summary>
internal sealed record EvalOutput(Dictionary<string, object?> Fields, string Line);
