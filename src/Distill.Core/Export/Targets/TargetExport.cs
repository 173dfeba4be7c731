using System.Text.Json.Nodes;
using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Quantization;

namespace Distill.Core.Export.Targets;

/// <summary>Where the exported model came from, for the model card.</summary>
public sealed record ExportSource(string? RunId, string? Checkpoint);

/// <summary>What the export of a classifier (<see cref="ClassifierExport"/>) works on.</summary>
/// <param name="Model">The float student.</param>
/// <param name="Quantized">The checkpoint's frozen quantised view, if it has one; used when its schemes match the
/// profile, else the model is calibrated afresh.</param>
/// <param name="Calibration">Data to calibrate on (the training split).</param>
/// <param name="Test">Data to verify and measure on (the test split), normalised as in training.</param>
/// <param name="Normalization">The checkpoint's preprocessing, for the model card.</param>
/// <param name="OutputDirectory">Folder that receives the model file and model_card.json (replaced as a whole).</param>
public sealed record ExportRequest(
    ZooModel Model,
    QuantizedZooModel? Quantized,
    TargetProfile Profile,
    TensorDataset Calibration,
    TensorDataset Test,
    Normalization? Normalization,
    string OutputDirectory,
    ExportSource Source)
{
    /// <summary>Overrides the profile's number of calibration batches.</summary>
    public int? CalibrationBatches { get; init; }
    public int Seed { get; init; }
    /// <summary>ONNX Runtime intra-op threads for the latency measurement.</summary>
    public int LatencyThreads { get; init; } = 1;
    /// <summary>ONNX float targets: add the model's taps as further outputs (<see cref="ExportOptions.ExposeTaps"/>).</summary>
    public bool ExposeTaps { get; init; }
    /// <summary>How the training data was read from files, for the model card; null when not known.</summary>
    public DataReading? Reading { get; init; }
    /// <summary>Checked between calibration batches, verification batches and latency runs; ends a runtime's process.</summary>
    public CancellationToken Cancel { get; init; }
    /// <summary>Where the export says what it does that the user may not expect (calibrating a quantised checkpoint again),
    /// and how far a slow verification has got when there is no <see cref="Progress"/>.</summary>
    public Serilog.ILogger? Log { get; init; }
    /// <summary>Test samples to verify and measure on: a stratified random sample of this many, or
    /// <see cref="VerificationSample.All"/>; null: the profile's <see cref="TargetProfile.VerifySamples"/>, else the
    /// runtime's default (<see cref="ExportBackend.DefaultVerifySamples"/>).</summary>
    public long? VerifySamples { get; init; }
    /// <summary>Told how many verification samples have run (Arm NN only: ONNX Runtime takes a second for all).</summary>
    public IProgress<VerificationProgress>? Progress { get; init; }
    /// <summary>Measures the energy per inference over further batch-64 latency runs (ONNX Runtime; the other runtimes
    /// measure no energy); null: not measured.</summary>
    public Energy.EnergyMeter? Energy { get; init; }
}

/// <summary>The test samples an export ran in its runtime and the accuracy it measured on them.</summary>
/// <param name="Samples">Samples run.</param>
/// <param name="Available">Samples in the test split.</param>
/// <param name="Low">Lower end of the 95 % Wilson score interval of the accuracy.</param>
/// <param name="Selection">"all", or how the sample was drawn.</param>
public sealed record TestMeasurement(double Accuracy, long Samples, long Available, double Low, double High, string Selection);

/// <summary>How the exported file was checked against the student in its runtime.</summary>
/// <param name="Reference">"float student" or "fake-quant student".</param>
/// <param name="Criterion">"max_abs_logit_diff" (float files) or "top1_agreement" (int8 files).</param>
/// <param name="Value">The measured value of the criterion.</param>
/// <param name="Threshold">Upper bound of the diff, or lower bound of the agreement.</param>
/// <param name="MaxAbsLogitDiff">Null when the file was not run (<see cref="ExportBackend.HasRuntime"/>).</param>
/// <param name="Top1Agreement">Null when the file was not run.</param>
/// <param name="OnnxChecker">"passed", "not applicable", or "unavailable: why" (no python3-onnx); for a format with no
/// runtime (criterion <see cref="TargetExporter.SpecProblems"/>), its own check's result.</param>
public sealed record ExportVerification(
    string Runtime,
    string Reference,
    string Criterion,
    double Value,
    double Threshold,
    double? MaxAbsLogitDiff,
    double? Top1Agreement,
    long Samples,
    string OnnxChecker,
    bool Passed);

/// <summary>One latency figure: milliseconds per run of <paramref name="Batch"/> samples; with the energy per sample
/// (millijoules, <paramref name="EnergyMethod"/> "measured:rapl" or "estimated:cpu-time") of further runs at that batch
/// when an energy meter was given.</summary>
public sealed record ExportLatency(string Runtime, int Batch, double MedianMs, int Runs, int Threads, string Note,
    double? EnergyMjPerInference = null, string? EnergyMethod = null);

/// <summary>What an export of any model family gives: the files, the size, the verification in the runtime, and the
/// family's figures (<see cref="ClassifierExportReport"/>, <see cref="LmExportReport"/>) for the run's metrics, the
/// console and JSON.</summary>
public abstract record ExportReport(string Target, string ModelPath, string CardPath, long SizeBytes, ExportVerification Verification)
{
    /// <summary>The family's metrics, recorded as export/&lt;target&gt;/&lt;name&gt; between size_bytes and verified.</summary>
    public abstract IEnumerable<(string Name, double Value)> Metrics();

    /// <summary>The family's tags, recorded as export/&lt;target&gt;/&lt;name&gt; (energy_method).</summary>
    public virtual IEnumerable<(string Name, string Value)> Tags() => [];

    /// <summary>What was measured, in words, after the file and its size on the console.</summary>
    public abstract string Summary();

    /// <summary>Lines printed after the verification's.</summary>
    public virtual IEnumerable<string> Details() => [];

    /// <summary>The family's fields of `distill export --json`, between size_bytes and verification.</summary>
    public abstract IEnumerable<KeyValuePair<string, JsonNode?>> JsonFields();

    /// <summary>The family's fields of the JSON's verification, between the threshold and the ONNX checker's result.</summary>
    public virtual IEnumerable<KeyValuePair<string, JsonNode?>> VerificationJsonFields() => [];
}
