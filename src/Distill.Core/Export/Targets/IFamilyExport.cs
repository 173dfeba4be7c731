using System.Text.Json.Nodes;

namespace Distill.Core.Export.Targets;

/// <summary>
/// What a model family does in the export of one model to one target (<see cref="ClassifierExport"/>,
/// <see cref="LanguageModelExport"/>); <see cref="TargetExporter.Export"/> does the rest once for every family: the
/// profile's checks, the temporary folder, the card in the file's metadata, the card file and the move into place.
/// Built for one export; disposing it frees what it prepared (not the model or data it was given).
/// </summary>
public interface IFamilyExport<out TReport> : IDisposable where TReport : ExportReport
{
    TargetProfile Profile { get; }

    /// <summary>The folder that receives the model file and model_card.json (replaced as a whole).</summary>
    string OutputDirectory { get; }

    /// <summary>Checked after the file is written (and by the family while it calibrates and verifies).</summary>
    CancellationToken Cancel { get; }

    /// <summary>Refuses, before the output folder is touched, what this model cannot be exported as.</summary>
    /// <exception cref="InvalidInputException">The profile or the model's data does not fit.</exception>
    void Check();

    /// <summary>Checks the data and readies the model (e.g. calibrates for an int8 target), once the temporary folder exists.</summary>
    void Prepare();

    /// <summary>The static model card (<see cref="ModelCard.Static"/>), also stored in the file.</summary>
    JsonObject StaticCard();

    /// <summary>Writes the file with the backend of <see cref="Profile"/>.</summary>
    ExportedModelInfo Write(ExportOptions options, string path);

    /// <summary>Verifies and measures the written file at <paramref name="modelPath"/> in its runtime; the report names
    /// the files where they will be once moved into place.</summary>
    TReport Verify(string modelPath, ExportedModelInfo info, string finalModelPath, string finalCardPath);

    /// <summary>After <see cref="Verify"/>: <paramref name="card"/> (a copy of the static card) completed with what was
    /// written, measured and verified (<see cref="ModelCard.Complete"/>).</summary>
    JsonObject FullCard(JsonObject card, ExportedModelInfo info);
}
