using Distill.Core.Export;
using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using Distill.Core.Text;
using Distill.Recipes.Schema;

namespace Distill.Recipes.Targets;

/// <summary>Every key a target profile (configs/targets/*.yaml) may have, on the same schema machinery as recipes
/// (types, ranges, did-you-mean, file:line:column). Defaults are read from <see cref="TargetProfile"/> and
/// <see cref="QuantScheme"/>'s own initialisers, so there is one table of them.</summary>
internal static class TargetSchema
{
    public static IReadOnlyList<(string Name, ExportPrecision Value)> Precisions { get; } =
        [.. Enum.GetValues<ExportPrecision>().Select(p => (ModelCard.Precision(p), p))];

    private static readonly ScalarSchema Boolean = new() { Kind = ScalarKind.Boolean };
    private static readonly TargetProfile Defaults = new() { Name = "" };
    private static readonly QuantScheme Weights = Defaults.Weights;
    private static readonly QuantScheme Activations = Defaults.Activations;
    private static readonly LmInt4Weights Int4 = Defaults.Int4;

    public static MapSchema Root { get; } = new()
    {
        Fields =
        [
            // The name's rule (PlainName) is checked with the reason it exists, after validation.
            new() { Key = "name", Schema = new ScalarSchema { Kind = ScalarKind.String }, Required = true, Doc = "The target's name: the export folder exports/<name>/" },
            new() { Key = "description", Schema = new ScalarSchema { Kind = ScalarKind.String, AllowEmpty = true }, Default = Defaults.Description, Doc = "What the target is, for distill targets list" },
            new() { Key = "format", Schema = OneOf(ExportBackends.Registry.Names), Default = Defaults.Format.Name, Doc = "File format" },
            new() { Key = "precision", Schema = OneOf(Precisions.Select(p => p.Name)), Default = NameOf(Precisions, Defaults.Precision), Doc = "Precision of weights and compute" },
            new()
            {
                Key = "weights",
                Schema = new MapSchema
                {
                    Fields =
                    [
                        Bits(Weights),
                        new() { Key = "reduce_range", Schema = Boolean, Default = false, Doc = "7-bit weights (u8 x s8 sums cannot saturate on AVX2 without VNNI); bits stays 8" },
                        new() { Key = "symmetric", Schema = Boolean, Default = Weights.Symmetric, Doc = "Zero point fixed" },
                        new() { Key = "per_channel", Schema = Boolean, Default = Weights.PerChannel, Doc = "One scale per output channel" },
                        new() { Key = "signed", Schema = Boolean, Default = Weights.Signed, Doc = "Signed (int) or unsigned (uint) codes" },
                        new() { Key = "narrow_range", Schema = Boolean, Default = Weights.NarrowRange, Doc = "Drop the lowest code (int8: [-127, 127])" },
                    ],
                },
                Doc = "int8: the integer scheme of conv and linear weights",
            },
            new()
            {
                Key = "activations",
                Schema = new MapSchema
                {
                    Fields =
                    [
                        Bits(Activations),
                        new() { Key = "signed", Schema = Boolean, Default = Activations.Signed, Doc = "Signed (int) or unsigned (uint) codes" },
                        new() { Key = "symmetric", Schema = Boolean, Default = Activations.Symmetric, Doc = "Zero point fixed" },
                    ],
                },
                Doc = "int8: the integer scheme of the input and every layer output",
            },
            new()
            {
                Key = "calibration",
                Schema = new MapSchema
                {
                    Fields =
                    [
                        new() { Key = "method", Schema = OneOf(Observers.Registry.Names), Default = Observers.NameOf(Defaults.Calibration), Doc = "Observer of the activation ranges" },
                        new() { Key = "batches", Schema = Int(1, 100_000), Default = (long)Defaults.CalibrationBatches, Doc = "Calibration batches from the training split" },
                        new() { Key = "batch_size", Schema = Int(1, 100_000), Default = (long)Defaults.CalibrationBatchSize, Doc = "Samples per calibration batch" },
                        RecipeSchema.FromOption(Observers.Options.First(o => o.Key == "percentile")),
                    ],
                },
                Doc = "int8: how activation ranges are found",
            },
            new() { Key = "io", Schema = OneOf(["float", "int8"]), Default = Defaults.IntegerIo ? "int8" : "float", Doc = "TFLite int8: float or int8 input and output tensors" },
            new() { Key = "fp32_io", Schema = Boolean, Default = Defaults.Float32Io, Doc = "fp16: keep float32 input and output" },
            new() { Key = "opset", Schema = Int(13, 22), Default = (long)Defaults.Opset, Doc = "ONNX opset" },
            new() { Key = "first_layer", Schema = OneOf(["integer", "float"]), Default = Defaults.FirstLayerFloat ? "float" : "integer", Doc = "ONNX int8: a first conv computes in float" },
            new()
            {
                Key = "int4",
                Schema = new MapSchema
                {
                    Fields =
                    [
                        new() { Key = "group_size", Schema = OneOf(LmInt4Weights.GroupSizes.Select(g => g.ToString(System.Globalization.CultureInfo.InvariantCulture))), Default = Int4.GroupSize.ToString(System.Globalization.CultureInfo.InvariantCulture), Doc = "Consecutive inputs of one output feature that share a scale (MatMulNBits block_size); must divide every layer's input size" },
                        new() { Key = "symmetric", Schema = Boolean, Default = Int4.Symmetric, Doc = "Zero point 8 in every group; false: a zero point per group" },
                        new() { Key = "method", Schema = OneOf(Enum.GetValues<Int4Method>().Select(LmInt4Weights.MethodName)), Default = LmInt4Weights.MethodName(Int4.Method), Doc = "rtn: round to nearest; gptq: error compensation from calibration activations (Frantar et al., 2022)" },
                        new() { Key = "accuracy_level", Schema = Int(0, 4), Default = (long)Int4.AccuracyLevel, Doc = "MatMulNBits accuracy_level: 0 float activations; 4 int8 activations per group with integer sums (faster)" },
                        new() { Key = "calibration_windows", Schema = Int(1, 100_000), Default = (long)Int4.CalibrationWindows, Doc = "GPTQ: training windows the layer Hessians are taken from" },
                        new() { Key = "damp", Schema = new ScalarSchema { Kind = ScalarKind.Number, Min = 1e-6, Max = 1 }, Default = Int4.Damp, Doc = "GPTQ: added to the Hessian's diagonal, as a fraction of its mean" },
                        new()
                        {
                            Key = "auto",
                            Schema = new MapSchema
                            {
                                Fields =
                                [
                                    new() { Key = "max_drop", Schema = new ScalarSchema { Kind = ScalarKind.Number, Min = 0, Max = 100 }, Doc = "Largest rise in validation bits per byte over the float model: layers go back to float, most sensitive first, until it holds (measured)" },
                                    new() { Key = "size_budget_bytes", Schema = Int(1, long.MaxValue), Doc = "Largest weight size of the file in bytes: layers go back to float, most sensitive first, while the weights fit" },
                                ],
                            },
                            Doc = "Choose which linear layers stay float (exactly one of max_drop, size_budget_bytes); the card's quantization.auto lists the choice and every measured step",
                        },
                    ],
                },
                Doc = "int4 (language models, ONNX): 4-bit group-wise weights written as ONNX Runtime's MatMulNBits",
            },
            new() { Key = "kv_cache", Schema = Boolean, Default = Defaults.KvCache, Doc = "Language models (ONNX): the file takes past keys and values and returns the present ones, so generation runs one position per new token; false: the full-recompute file (tokens in, logits out)" },
        ],
    };

    private static ScalarSchema Int(double min, double max) => new() { Kind = ScalarKind.Integer, Min = min, Max = max };

    private static ScalarSchema OneOf(IEnumerable<string> allowed) => new() { Kind = ScalarKind.Enum, Allowed = [.. allowed] };

    private static Field Bits(QuantScheme scheme) => new()
    {
        Key = "bits",
        Schema = Int(QuantScheme.MinBits, QuantScheme.MaxBits),
        Default = (long)scheme.Bits,
        Doc = "Integer bits",
    };

    private static string NameOf<T>(IReadOnlyList<(string Name, T Value)> names, T value) where T : struct, System.Enum =>
        names.First(n => n.Value.Equals(value)).Name;
}
