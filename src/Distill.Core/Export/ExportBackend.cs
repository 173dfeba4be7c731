using Distill.Core.Export.Targets;
using Distill.Core.Quantization;
using static TorchSharp.torch;

namespace Distill.Core.Export;

/// <summary>
/// One export format and the runtime that checks its files: an entry of <see cref="ExportBackends.Registry"/>, named
/// by a target profile's <c>format</c>. It says what it can write (precisions, the format-specific profile keys it
/// reads), writes a classifier (and a language model where <see cref="LanguageModels"/> is set), runs a written file
/// in its runtime, and gives the model card its part (signature, batch, quantised layout). Everything that differs
/// between formats is here: the exporters, model cards, profiles and commands ask the backend, never test the format.
/// </summary>
public abstract class ExportBackend : IRegistryEntry
{
    /// <summary>The profile's <c>format</c> value and the model card's <c>target.format</c>: "onnx".</summary>
    public abstract string Name { get; }

    public IReadOnlyList<string> Aliases { get; } = [];

    public abstract string Doc { get; }

    /// <summary>The format's name in sentences: "ONNX".</summary>
    public abstract string Title { get; }

    /// <summary>The extension of its files, with the dot: ".onnx".</summary>
    public abstract string FileExtension { get; }

    /// <summary>The file an export writes next to its model card: "model.onnx".</summary>
    public string ModelFileName => "model" + FileExtension;

    /// <summary>The runtime a file is verified and measured in, as reports and cards name it: "ONNX Runtime (CPU)".</summary>
    public abstract string Runtime { get; }

    /// <summary>The runtime in a few words, in sentences and docs: "ONNX Runtime".</summary>
    public abstract string RuntimeName { get; }

    /// <summary>The precisions it writes, in the order messages list them.</summary>
    public abstract IReadOnlyList<ExportPrecision> Precisions { get; }

    /// <summary>An int8 file of this format can run any layer in float between integer ones (a quantize layers: or auto:
    /// float override), so a model quantised with such overrides fits its int8 profiles.</summary>
    public virtual bool FloatLayers => false;

    /// <summary>Reads <c>first_layer: float</c> of int8 profiles (<see cref="QuantConfig.FirstLayerFloat"/>).</summary>
    public virtual bool FirstLayerFloat => false;

    /// <summary>Reads <c>io: int8</c> of int8 profiles: integer input and output tensors.</summary>
    public virtual bool IntegerIo => false;

    /// <summary>Reads <c>opset</c>.</summary>
    public virtual bool Opset => false;

    /// <summary>Float files can carry the model's taps as further outputs (<see cref="ExportOptions.ExposeTaps"/>).</summary>
    public virtual bool ExposesTaps => false;

    /// <summary>Whether its files can be run here (<see cref="RunClassifier"/>); without a runtime an export checks the
    /// file with <see cref="CheckFile"/> only and measures no accuracy or latency (Core ML).</summary>
    public virtual bool HasRuntime => true;

    /// <summary>Its int8 files quantise weights only (activations stay float): no calibration, and the model card's
    /// quantisation section is <see cref="WeightsOnlyQuantization"/>.</summary>
    public virtual bool Int8WeightsOnly => false;

    /// <summary>The model card's quantisation section of a weights-only int8 file (<see cref="Int8WeightsOnly"/>).</summary>
    public virtual System.Text.Json.Nodes.JsonObject WeightsOnlyQuantization(QuantScheme weights) =>
        throw new NotSupportedException($"{Title} int8 files are not weights-only");

    /// <summary>What in <paramref name="profile"/> this format cannot write, as "key: problem"; null when it can.</summary>
    public virtual string? ProfileProblem(TargetProfile profile) => null;

    /// <summary>Test samples a classifier's file is verified on unless the profile or the user says
    /// (<see cref="VerificationSample"/>): all of them where the runtime is fast.</summary>
    public virtual long DefaultVerifySamples => VerificationSample.All;

    /// <summary>Latency is the median of a number of timed runs of the file (<see cref="TargetProfile.LatencyRuns"/>
    /// sets it), not a by-product of the verification run.</summary>
    public virtual bool TimedLatency => false;

    /// <summary>Per-layer overrides of the integer scheme its int8 files need beyond the profile's weights scheme.</summary>
    public virtual IReadOnlyList<LayerOverride> QuantOverrides(QuantScheme weights) => [];

    /// <summary>The writer of image and tabular classifiers.</summary>
    public abstract IModelExporter ClassifierExporter();

    /// <summary>What a classifier's file takes and gives, for the static part of its model card (the written file's
    /// <see cref="ExportedModelInfo"/> completes it). <paramref name="inputShape"/> is the zoo model's, without the batch.</summary>
    public abstract ExportSignature ClassifierSignature(long[] inputShape, int classes);

    /// <summary>How an int8 classifier is laid out in the file, for the model card's <c>quantization.layout</c>.</summary>
    public abstract string QuantizedLayout { get; }

    /// <summary>The format's own checker of a written file: "passed", "failed: …", "unavailable: …", or
    /// <see cref="TargetExporter.CheckerNotApplicable"/> when the format has none.</summary>
    public virtual string CheckFile(string path, CancellationToken cancel = default) => TargetExporter.CheckerNotApplicable;

    /// <summary>Runs a classifier's file on float inputs laid out as the zoo model takes them and measures its latency.</summary>
    public abstract RuntimeRun RunClassifier(string path, Tensor input, RuntimeSettings settings);

    /// <summary>Where a file keeps its model card when the card is not next to it ("the ONNX metadata"); null when the
    /// card is read from model_card.json only.</summary>
    public virtual string? CardInFile => null;

    /// <summary>The model card JSON kept in the file (<see cref="CardInFile"/>); null when it has none.</summary>
    /// <exception cref="InvalidInputException">The runtime cannot load the file.</exception>
    public virtual string? ReadCardInFile(string path) => null;

    /// <summary>How it writes and runs language models; null when it does not.</summary>
    public virtual ILanguageModelBackend? LanguageModels => null;

    public override string ToString() => Name;
}

/// <summary>A classifier file's input and output before it is written.</summary>
/// <param name="InputShape">With the batch dimension first: -1 where it is dynamic.</param>
/// <param name="Layout">"NCHW", "NHWC" or "NC".</param>
/// <param name="Batch">The batch dimension in words: "dynamic (first dimension)", "fixed 1".</param>
public sealed record ExportSignature(string InputName, long[] InputShape, string Layout, string Batch, string OutputName, long[] OutputShape);

/// <summary>How a file is run: the intra-op threads of a latency measurement, where progress goes, what cancels, and
/// the meter of the energy per inference (null: not measured; runtimes that measure no latency ignore it), and the
/// timed runs behind a latency median (null: the runtime's default; runtimes without <see cref="ExportBackend.TimedLatency"/> ignore it).</summary>
public sealed record RuntimeSettings(int LatencyThreads = 1, IProgress<long>? Progress = null, CancellationToken Cancel = default,
    Energy.EnergyMeter? Energy = null, int? LatencyRuns = null);

/// <summary>A classifier file's logits [N, classes] and its latencies (batch 1 first).</summary>
public sealed record RuntimeRun(Tensor Logits, IReadOnlyList<ExportLatency> Latencies);
