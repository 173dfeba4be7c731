using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Core.Quantization;

namespace Distill.Core.Export.Targets;

/// <summary>The model card written next to every export (model_card.json). Its static part (the target, what the file
/// takes and gives, the family's description of the model, the source) is also stored in the file's metadata under
/// <see cref="MetadataKey"/>; the card adds what was measured and how the file was verified. This class lays out what
/// every card has; the family's sections come from its <see cref="IFamilyExport{TReport}"/>, the format's from its
/// <see cref="ExportBackend"/>.</summary>
public static class ModelCard
{
    public const string MetadataKey = "distill.model_card";
    public const string FileName = "model_card.json";
    public const string Schema = "distill.model_card/1";

    // Relaxed escaping keeps quotes, '+' and '>' literal: the card is UTF-8 data, not HTML, and it is embedded in every exported file.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The static card: schema, kind (absent for classifiers), target, the family's <paramref name="sections"/>
    /// in order, then the source.</summary>
    public static JsonObject Static(TargetProfile profile, ExportSource source, string? kind, IEnumerable<KeyValuePair<string, JsonNode?>> sections)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sections);
        var card = new JsonObject { ["schema"] = Schema };
        if (kind is not null)
            card["kind"] = kind;
        card["target"] = new JsonObject
        {
            ["name"] = profile.Name,
            ["description"] = profile.Description,
            ["format"] = profile.Format.Name,
            ["precision"] = Precision(profile.Precision),
            ["profile"] = profile.Source,
        };
        foreach (var (key, node) in sections)
            card[key] = node;
        card["source"] = new JsonObject
        {
            ["run_id"] = source.RunId,
            ["checkpoint"] = source.Checkpoint,
            ["distill_version"] = VersionInfo.Distill,
        };
        return card;
    }

    /// <summary>Adds the sections every full card ends with: <c>measured</c>, and <c>verification</c> with the family's
    /// <paramref name="figures"/> between the threshold and the ONNX checker's result.</summary>
    public static JsonObject Complete(JsonObject card, JsonObject measured, ExportVerification verification,
        IEnumerable<KeyValuePair<string, JsonNode?>> figures)
    {
        ArgumentNullException.ThrowIfNull(card);
        ArgumentNullException.ThrowIfNull(verification);
        ArgumentNullException.ThrowIfNull(figures);
        card["measured"] = measured;
        var v = new JsonObject
        {
            ["runtime"] = verification.Runtime,
            ["reference"] = verification.Reference,
            ["criterion"] = verification.Criterion,
            ["value"] = verification.Value,
            ["threshold"] = verification.Threshold,
            ["max_abs_logit_diff"] = verification.MaxAbsLogitDiff,
        };
        foreach (var (key, node) in figures)
            v[key] = node;
        v[verification.Criterion == TargetExporter.SpecProblems ? "spec_check" : "onnx_checker"] = verification.OnnxChecker;
        v["passed"] = verification.Passed;
        card["verification"] = v;
        return card;
    }

    public static string ToJson(JsonNode card, bool indented) => card.ToJsonString(indented ? Indented : Compact);

    /// <summary>A shape as a JSON array.</summary>
    public static JsonArray Shape(IEnumerable<long> shape) => new([.. shape.Select(d => (JsonNode)JsonValue.Create(d))]);

    /// <summary>The card's and the profile's name of a precision: fp32, fp16, int8.</summary>
    public static string Precision(ExportPrecision precision) => precision switch
    {
        ExportPrecision.Float16 => "fp16",
        ExportPrecision.Int8 => "int8",
        ExportPrecision.Int4 => "int4",
        _ => "fp32",
    };

    public static string ObserverName(ObserverKind kind) => Observers.NameOf(kind);
}
