using System.Globalization;
using System.Text.Json.Nodes;
using Distill.Core.Export.CoreMl.Proto;
using Distill.Core.Export.Targets;
using Distill.Core.Models;
using Distill.Core.Quantization;
using static TorchSharp.torch;

namespace Distill.Core.Export.CoreMl;

/// <summary>Writes a zoo classifier as a Core ML <c>.mlmodel</c>: a <c>NeuralNetworkClassifier</c> at specification
/// version <see cref="SpecificationVersion"/> (iOS 13 / macOS 10.15), whose Xcode view is a classifier.</summary>
/// <remarks>
/// Input <c>input</c>: a float32 multiArray [1, C, H, W] (images) or [1, features], mapped exactly
/// (<c>EXACT_ARRAY_MAPPING</c>), already normalised as in training (the preprocessing is stated in the input's
/// description and in the metadata). Outputs: <c>classLabel</c> (int64, the predicted class), <c>classLabelProbs</c>
/// (dictionary class → probability, from the softmax blob <c>probabilities</c>), and <c>logits</c> (float32 [1, classes]).
/// Layers, only what the zoo's classifiers (mlp, cnn) need: convolution (depthwise: nGroups = channels) with the batch
/// norm folded in, ReLU, max pooling, flattenTo2D, innerProduct, softmaxND; dropouts vanish. Any other layer kind is an
/// error naming the layer. Weights: float32, float16
/// (<c>float16Value</c>), or 8-bit linear-quantised per <see cref="ExportOptions.Int8Weights"/> (<c>rawValue</c>;
/// activations stay float: Core ML neural networks dequantise weights at load). Biases stay float (fp16 in fp16 files).
/// </remarks>
public sealed class CoreMlExporter : IModelExporter
{
    /// <summary>EXACT_ARRAY_MAPPING, flattenTo2D and softmaxND need version 4; float16 weights need 2 and
    /// quantised weights 3, both below it.</summary>
    public const int SpecificationVersion = 4;
    public const string InputName = "input";
    public const string LogitsName = "logits";
    public const string ProbabilitiesBlob = "probabilities";
    public const string ClassLabelName = "classLabel";
    public const string ClassProbabilitiesName = "classLabelProbs";
    /// <summary>The metadata key of the preprocessing (JSON), next to the model card's.</summary>
    public const string PreprocessingKey = "distill.preprocessing";

    /// <summary>The layer kinds written, for error messages.</summary>
    public const string WrittenKinds =
        "conv, depthwise conv, linear, batch norm folded into the conv before it, ReLU, max pool (unpadded), flatten, dropout (dropped)";

    public ExportedModelInfo Export(ZooModel model, QuantizedZooModel? quantized, ExportOptions options, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var spec = Build(model, options);
        byte[] bytes = Google.Protobuf.MessageExtensions.ToByteArray(spec);
        AtomicFile.Write(path, stream => stream.Write(bytes));
        var input = spec.Description.Input[0].Type.MultiArrayType.Shape.ToArray();
        return new ExportedModelInfo(Path.GetFullPath(path), bytes.LongLength, InputName, input, "float32", input.Length == 4 ? "NCHW" : "NC",
            LogitsName, [1, model.NumClasses], "float32", null, null);
    }

    /// <summary>The model specification of <paramref name="model"/> (in inference mode) at <paramref name="options"/>' precision.</summary>
    internal static Model Build(ZooModel model, ExportOptions options)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            var classifier = new NeuralNetworkClassifier
            {
                ArrayInputShapeMapping = NeuralNetworkMultiArrayShapeMapping.ExactArrayMapping,
                Int64ClassLabels = new Int64Vector(),
                LabelProbabilityLayerName = ProbabilitiesBlob,
            };
            classifier.Int64ClassLabels.Vector.AddRange(Enumerable.Range(0, model.NumClasses).Select(i => (long)i));
            classifier.Layers.AddRange(new CoreMlLowering(model.Graph, options).Lower());
            classifier.Layers.Add(new NeuralNetworkLayer
            {
                Name = "softmax",
                Input = { LogitsName },
                Output = { ProbabilitiesBlob },
                SoftmaxND = new SoftmaxNDLayerParams { Axis = -1 },
            });
            return new Model
            {
                SpecificationVersion = SpecificationVersion,
                Description = Describe(model, options),
                NeuralNetworkClassifier = classifier,
            };
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    private static ModelDescription Describe(ZooModel model, ExportOptions options)
    {
        long[] inputShape = [1, .. model.InputShape];
        string preprocessing = Preprocessing(options.Metadata);
        var description = new ModelDescription
        {
            PredictedFeatureName = ClassLabelName,
            PredictedProbabilitiesName = ClassProbabilitiesName,
            Metadata = new Metadata
            {
                ShortDescription = $"Distill {Architectures.NameOf(model.Spec.Arch)} classifier, {ModelCard.Precision(options.Precision)} weights",
                Author = "Distill",
            },
        };
        description.Input.Add(new FeatureDescription
        {
            Name = InputName,
            ShortDescription = string.Create(CultureInfo.InvariantCulture,
                $"float32 [{string.Join(", ", inputShape)}], normalised as in training: {preprocessing}"),
            Type = new FeatureType { MultiArrayType = FloatArray(inputShape) },
        });
        description.Output.Add(new FeatureDescription
        {
            Name = ClassLabelName,
            ShortDescription = "the predicted class (index into the labels)",
            Type = new FeatureType { Int64Type = new Int64FeatureType() },
        });
        description.Output.Add(new FeatureDescription
        {
            Name = ClassProbabilitiesName,
            ShortDescription = "probability of each class (softmax of the logits)",
            Type = new FeatureType { DictionaryType = new DictionaryFeatureType { Int64KeyType = new Int64FeatureType() } },
        });
        description.Output.Add(new FeatureDescription
        {
            Name = LogitsName,
            ShortDescription = ClassifierExport.OutputMeaning,
            Type = new FeatureType { MultiArrayType = FloatArray([1, model.NumClasses]) },
        });
        foreach (var (key, value) in options.Metadata)
            description.Metadata.UserDefined[key] = value;
        description.Metadata.UserDefined[PreprocessingKey] = preprocessing;
        return description;
    }

    private static ArrayFeatureType FloatArray(long[] shape)
    {
        var array = new ArrayFeatureType { DataType = ArrayFeatureType.Types.ArrayDataType.Float32 };
        array.Shape.AddRange(shape);
        return array;
    }

    /// <summary>The model card's preprocessing section (JSON), or a note that none was given.</summary>
    private static string Preprocessing(IReadOnlyDictionary<string, string> metadata) =>
        metadata.TryGetValue(ModelCard.MetadataKey, out var card) && JsonNode.Parse(card)?["preprocessing"] is { } node
            ? node.ToJsonString()
            : "not stated (no model card given)";
}
