using Distill.Core.Quantization;
using Distill.Core.Text;

namespace Distill.Core.Export.Targets;

/// <summary>A hardware target: the file format (an <see cref="ExportBackend"/>), precision and integer schemes a runtime
/// wants, and how to calibrate for it. Read from a YAML profile by Distill.Recipes (configs/targets/*.yaml).</summary>
public sealed record TargetProfile
{
    public required string Name { get; init; }
    public string Description { get; init; } = "";
    public ExportBackend Format { get; init; } = ExportBackends.Default;
    public ExportPrecision Precision { get; init; } = ExportPrecision.Float32;
    /// <summary>Integer scheme of conv and linear weights (int8 only).</summary>
    public QuantScheme Weights { get; init; } = QuantScheme.WeightInt8PerChannel;
    /// <summary>Integer scheme of the input and every layer output (int8 only).</summary>
    public QuantScheme Activations { get; init; } = QuantScheme.ActivationInt8;
    /// <summary>Observer of the activation ranges when calibrating (weights use min/max).</summary>
    public ObserverKind Calibration { get; init; } = ObserverKind.MinMax;
    public int CalibrationBatches { get; init; } = 16;
    public int CalibrationBatchSize { get; init; } = 64;
    public ObserverOptions Observer { get; init; } = new();
    /// <summary>Int8, formats with <see cref="ExportBackend.FirstLayerFloat"/> (ONNX): a first conv computes in float on
    /// the float input and only its output is quantised (<see cref="QuantConfig.FirstLayerFloat"/>).</summary>
    public bool FirstLayerFloat { get; init; }
    /// <summary>Int8, formats with <see cref="ExportBackend.IntegerIo"/> (TFLite): int8 input and output tensors.</summary>
    public bool IntegerIo { get; init; }
    /// <summary>ONNX fp16: keep float32 input and output.</summary>
    public bool Float32Io { get; init; } = true;
    public int Opset { get; init; } = 17;
    /// <summary>Language models: write the KV-cache form (past key/values in, present out) instead of the
    /// full-recompute file. Classifier exports to the profile are refused.</summary>
    public bool KvCache { get; init; }
    /// <summary>Int4 (language models): the 4-bit groups and how they are found.</summary>
    public LmInt4Weights Int4 { get; init; } = new();
    /// <summary>Test samples an export to this target is verified on (a recipe's export entry sets it with
    /// verify_samples); null: the runtime's default, <see cref="ExportBackend.DefaultVerifySamples"/>.</summary>
    public long? VerifySamples { get; init; }
    /// <summary>Timed runs behind each latency median of an export to this target (a recipe's export entry sets it with
    /// latency_runs, `distill export` with --latency-runs); null: the runtime's default. Only runtimes with
    /// <see cref="ExportBackend.TimedLatency"/> take it.</summary>
    public int? LatencyRuns { get; init; }
    /// <summary>The file the profile was read from.</summary>
    public string? Source { get; init; }

    public bool IsInteger => Precision == ExportPrecision.Int8;

    /// <summary>Int8 with integer activations, calibrated; false for float targets and weights-only int8 formats (Core ML).</summary>
    public bool QuantizesActivations => IsInteger && !Format.Int8WeightsOnly;

    /// <summary>The file name of the exported model, e.g. model.onnx.</summary>
    public string ModelFileName => Format.ModelFileName;

    /// <summary>The quantisation whose fake-quant model computes what this target's integer file computes, with the
    /// per-layer overrides its format needs (<see cref="ExportBackend.QuantOverrides"/>).</summary>
    public QuantConfig QuantConfig() => new()
    {
        Weights = Weights,
        Activations = Activations,
        ActivationObserver = Calibration,
        Observer = Observer,
        Overrides = Format.QuantOverrides(Weights),
        FirstLayerFloat = FirstLayerFloat,
    };

    /// <summary>Whether a quantised model was made with the schemes this target needs (its observer does not matter:
    /// the qparams are frozen).</summary>
    public bool Matches(QuantConfig config) => Differences(config).Count == 0;

    /// <summary>What in <paramref name="config"/> differs from what this target needs, one phrase per difference
    /// ("activations int8 asymmetric per-tensor [-128, 127], the target wants int8 symmetric …"); empty when it fits.</summary>
    public IReadOnlyList<string> Differences(QuantConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var wanted = QuantConfig();
        var differences = new List<string>();
        if (config.Weights != wanted.Weights)
            differences.Add($"weights {config.Weights}, the target wants {wanted.Weights}");
        if (config.Activations != wanted.Activations)
            differences.Add($"activations {config.Activations}, the target wants {wanted.Activations}");
        if (!config.FoldBatchNorm)
            differences.Add("batch norm not folded, the target folds it into the conv");
        if (!config.QuantizeInput)
            differences.Add("input not quantised, the target quantises it");
        if (config.FirstLayerFloat != wanted.FirstLayerFloat)
            differences.Add(wanted.FirstLayerFloat ? "first layer integer, the target keeps it float" : "first layer float, the target runs it in integer");
        // A layer left wholly in float runs as a float operator between integer ones in formats that allow it.
        var overrides = config.Overrides.Where(o => !(Format.FloatLayers && IsFloatOnly(o))).ToList();
        if (!overrides.Select(o => o with { Where = null }).SequenceEqual(wanted.Overrides))
            differences.Add($"per-layer overrides [{string.Join("; ", overrides.Select(Describe))}], the target wants [{string.Join("; ", wanted.Overrides.Select(Describe))}]");
        return differences;
    }

    private static bool IsFloatOnly(LayerOverride o) =>
        o is { Float: true, Weights: null, Activations: null, WeightBits: null, ActivationBits: null };

    private static string Describe(LayerOverride o) =>
        o.Float ? $"{o.Pattern}: float" : $"{o.Pattern}: weights {o.Weights?.ToString() ?? (o.WeightBits is { } w ? $"{w} bits" : "default")}";

    public ExportOptions ExportOptions(IReadOnlyDictionary<string, string> metadata) => new()
    {
        Precision = Precision,
        Float32Io = Float32Io,
        IntegerIo = IntegerIo,
        Int8Weights = Weights,
        OnnxOpset = Opset,
        OnnxIrVersion = Opset switch
        {
            <= 14 => 7,
            <= 18 => 8,
            <= 20 => 9,
            _ => 10,
        },
        Metadata = metadata,
        KvCache = KvCache,
    };

    /// <summary>Throws <see cref="InvalidInputException"/> naming the profile and the problem.</summary>
    public void Validate()
    {
        string where = Source ?? PrintableText.Escape(Name);
        if (!PlainName.IsValid(Name))
            throw new InvalidInputException($"{where}: name: '{PrintableText.Escape(Name)}' must be {PlainName.Rule}: it names the export folder exports/<name>/");
        if (Precision == ExportPrecision.Int4 && Format.LanguageModels?.Precisions.Contains(Precision) != true)
        {
            throw new InvalidInputException(
                $"{where}: precision: int4 weights run as ONNX Runtime's MatMulNBits, which {Format.Title} files cannot hold; int4 is for " +
                $"{ExportBackends.Titles(b => b.LanguageModels?.Precisions.Contains(ExportPrecision.Int4) == true)} language models");
        }
        if (Precision == ExportPrecision.Int4)
        {
            if (!LmInt4Weights.GroupSizes.Contains(Int4.GroupSize))
                throw new InvalidInputException($"{where}: int4.group_size: {Int4.GroupSize} is not one of {string.Join(", ", LmInt4Weights.GroupSizes)}");
            if (Int4.AccuracyLevel is < 0 or > 4 || Int4.CalibrationWindows < 1 || !(Int4.Damp > 0))
                throw new InvalidInputException($"{where}: int4: accuracy_level is 0..4, calibration_windows at least 1 and damp above 0");
            if (Int4.Auto is { } auto && ((auto.MaxDrop is null) == (auto.SizeBudgetBytes is null) || auto.MaxDrop < 0 || auto.SizeBudgetBytes < 1))
                throw new InvalidInputException($"{where}: int4.auto: give exactly one of max_drop (bits per byte, at least 0) and size_budget_bytes (at least 1)");
        }
        else if (!Format.Precisions.Contains(Precision))
        {
            throw new InvalidInputException(
                $"{where}: precision: {Format.Title} export writes {string.Join(" or ", Format.Precisions.Select(ModelCard.Precision))}, not {ModelCard.Precision(Precision)}");
        }
        if (Format.ProfileProblem(this) is { } problem)
            throw new InvalidInputException($"{where}: {problem}");
        if (FirstLayerFloat && (!Format.FirstLayerFloat || !IsInteger))
        {
            throw new InvalidInputException($"{where}: first_layer: float is for int8 {ExportBackends.Titles(b => b.FirstLayerFloat)} targets " +
                $"({ExportBackends.Titles(b => !b.FirstLayerFloat && !b.Int8WeightsOnly)} int8 is full-integer; float targets have no integer layers)");
        }
        if (IsInteger)
        {
            try
            {
                QuantConfig().Validate();
            }
            catch (InvalidInputException e)
            {
                throw new InvalidInputException($"{where}: {e.Message}", e);
            }
        }
        if (CalibrationBatches < 1 || CalibrationBatchSize < 1)
            throw new InvalidInputException($"{where}: calibration batches and batch_size must be at least 1");
    }
}
