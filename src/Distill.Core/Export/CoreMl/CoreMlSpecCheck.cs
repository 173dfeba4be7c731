using Distill.Core.Export.CoreMl.Proto;
using Google.Protobuf;

namespace Distill.Core.Export.CoreMl;

/// <summary>Checks a written <c>.mlmodel</c> without a Core ML runtime (none exists outside Apple's systems): it parses
/// back through the specification's schema, every field a neural-network classifier requires is set (inputs and outputs
/// with types, the predicted feature and probability outputs, class labels, a probability blob some layer makes, every
/// layer's kind and inputs made before it, weights of the size their layer needs), and the specification version is the
/// one the features used need (<see cref="RequiredVersion"/>).</summary>
public static class CoreMlSpecCheck
{
    /// <summary>The problems found, empty when the file passes.</summary>
    public static IReadOnlyList<string> Problems(string path)
    {
        Model model;
        try
        {
            model = Model.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException e)
        {
            return [$"does not parse as a Core ML model: {e.Message}"];
        }
        return Problems(model);
    }

    internal static IReadOnlyList<string> Problems(Model model)
    {
        var problems = new List<string>();
        if (model.TypeCase != Model.TypeOneofCase.NeuralNetworkClassifier)
            return ["the model is not a neural-network classifier (Model.neuralNetworkClassifier is not set)"];
        var nn = model.NeuralNetworkClassifier;
        int required = RequiredVersion(nn);
        if (model.SpecificationVersion != required)
            problems.Add($"specificationVersion is {model.SpecificationVersion}, but the features used need exactly {required}");
        CheckDescription(model.Description, nn, problems);
        CheckLayers(model.Description, nn, problems);
        return problems;
    }

    /// <summary>The lowest specification version that has every feature <paramref name="nn"/> uses: EXACT_ARRAY_MAPPING and
    /// the layers added in Core ML 3 (flattenTo2D, softmaxND) need 4, quantised weights 3, float16 weights 2.</summary>
    internal static int RequiredVersion(NeuralNetworkClassifier nn)
    {
        ArgumentNullException.ThrowIfNull(nn);
        var weights = nn.Layers.SelectMany(WeightsOf).ToList();
        bool version4 = nn.ArrayInputShapeMapping != NeuralNetworkMultiArrayShapeMapping.Rank5ArrayMapping
            || nn.ImageInputShapeMapping != NeuralNetworkImageShapeMapping.Rank5ImageMapping
            || nn.Layers.Any(l => l.LayerCase is NeuralNetworkLayer.LayerOneofCase.FlattenTo2D or NeuralNetworkLayer.LayerOneofCase.SoftmaxND);
        return version4 ? 4 : weights.Any(w => w.Quantization is not null) ? 3 : weights.Any(w => !w.Float16Value.IsEmpty) ? 2 : 1;
    }

    private static IEnumerable<WeightParams> WeightsOf(NeuralNetworkLayer layer) => layer.LayerCase switch
    {
        NeuralNetworkLayer.LayerOneofCase.Convolution => [layer.Convolution.Weights, layer.Convolution.Bias],
        NeuralNetworkLayer.LayerOneofCase.InnerProduct => [layer.InnerProduct.Weights, layer.InnerProduct.Bias],
        _ => [],
    };

    private static void CheckDescription(ModelDescription? d, NeuralNetworkClassifier nn, List<string> problems)
    {
        if (d is null)
        {
            problems.Add("the model has no description");
            return;
        }
        if (d.Input.Count == 0)
            problems.Add("the description has no input");
        foreach (var f in d.Input.Concat(d.Output))
        {
            if (string.IsNullOrEmpty(f.Name) || f.Type is null || f.Type.TypeCase == FeatureType.TypeOneofCase.None)
                problems.Add($"feature '{f.Name}' has no name or no type");
            else if (f.Type.TypeCase == FeatureType.TypeOneofCase.MultiArrayType
                && (f.Type.MultiArrayType.Shape.Count == 0 || f.Type.MultiArrayType.Shape.Any(s => s < 1)
                    || f.Type.MultiArrayType.DataType == ArrayFeatureType.Types.ArrayDataType.InvalidArrayDataType))
                problems.Add($"multiArray feature '{f.Name}' needs a shape of positive sizes and a data type");
        }
        bool int64Labels = nn.ClassLabelsCase == NeuralNetworkClassifier.ClassLabelsOneofCase.Int64ClassLabels;
        int labels = int64Labels ? nn.Int64ClassLabels.Vector.Count
            : nn.ClassLabelsCase == NeuralNetworkClassifier.ClassLabelsOneofCase.StringClassLabels ? nn.StringClassLabels.Vector.Count : 0;
        if (labels == 0)
            problems.Add("the classifier has no class labels");
        var label = d.Output.FirstOrDefault(o => o.Name == d.PredictedFeatureName);
        var labelType = int64Labels ? FeatureType.TypeOneofCase.Int64Type : FeatureType.TypeOneofCase.StringType;
        if (string.IsNullOrEmpty(d.PredictedFeatureName) || label?.Type?.TypeCase != labelType)
            problems.Add($"predictedFeatureName must name an output of type {labelType} (the class labels' type)");
        var probabilities = d.Output.FirstOrDefault(o => o.Name == d.PredictedProbabilitiesName);
        var keyType = int64Labels ? DictionaryFeatureType.KeyTypeOneofCase.Int64KeyType : DictionaryFeatureType.KeyTypeOneofCase.StringKeyType;
        if (string.IsNullOrEmpty(d.PredictedProbabilitiesName) || probabilities?.Type?.DictionaryType?.KeyTypeCase != keyType)
            problems.Add($"predictedProbabilitiesName must name a dictionary output keyed like the class labels ({keyType})");
        if (d.Metadata is null)
            problems.Add("the description has no metadata");
    }

    private static void CheckLayers(ModelDescription? d, NeuralNetworkClassifier nn, List<string> problems)
    {
        var blobs = new HashSet<string>(d?.Input.Select(i => i.Name) ?? []);
        var names = new HashSet<string>();
        if (nn.Layers.Count == 0)
            problems.Add("the network has no layers");
        foreach (var layer in nn.Layers)
        {
            string at = $"layer '{layer.Name}'";
            if (string.IsNullOrEmpty(layer.Name) || !names.Add(layer.Name))
                problems.Add($"{at}: layer names must be set and unique");
            if (layer.LayerCase == NeuralNetworkLayer.LayerOneofCase.None)
                problems.Add($"{at}: no layer kind is set");
            if (layer.Input.Count == 0 || layer.Output.Count == 0)
                problems.Add($"{at}: needs an input and an output");
            foreach (string input in layer.Input.Where(i => !blobs.Contains(i)))
                problems.Add($"{at}: input '{input}' is not made by an earlier layer or a model input");
            foreach (string output in layer.Output)
            {
                if (!blobs.Add(output))
                    problems.Add($"{at}: output '{output}' is made twice");
            }
            CheckWeights(layer, at, problems);
        }
        if (!blobs.Contains(nn.LabelProbabilityLayerName) || string.IsNullOrEmpty(nn.LabelProbabilityLayerName))
            problems.Add($"labelProbabilityLayerName '{nn.LabelProbabilityLayerName}' is not made by any layer");
        foreach (var output in d?.Output ?? [])
        {
            if (output.Name != d!.PredictedFeatureName && output.Name != d.PredictedProbabilitiesName && !blobs.Contains(output.Name))
                problems.Add($"output '{output.Name}' is not made by any layer");
        }
    }

    private static void CheckWeights(NeuralNetworkLayer layer, string at, List<string> problems)
    {
        switch (layer.LayerCase)
        {
            case NeuralNetworkLayer.LayerOneofCase.Convolution:
                var c = layer.Convolution;
                if (c.KernelSize.Count != 2 || c.Stride.Count != 2 || c.DilationFactor.Count != 2 || c.ConvolutionPaddingTypeCase == ConvolutionLayerParams.ConvolutionPaddingTypeOneofCase.None)
                    problems.Add($"{at}: convolution needs kernelSize, stride and dilationFactor [H, W] and a padding type");
                else
                    CheckWeight(c.Weights, c.OutputChannels * c.KernelChannels * c.KernelSize[0] * c.KernelSize[1], c.OutputChannels, $"{at} weights", problems);
                if (c.NGroups == 0 || c.KernelChannels == 0 || c.OutputChannels % Math.Max(c.NGroups, 1) != 0)
                    problems.Add($"{at}: convolution needs kernelChannels and nGroups dividing outputChannels");
                if (c.HasBias)
                    CheckWeight(c.Bias, c.OutputChannels, c.OutputChannels, $"{at} bias", problems);
                break;
            case NeuralNetworkLayer.LayerOneofCase.InnerProduct:
                var p = layer.InnerProduct;
                CheckWeight(p.Weights, p.InputChannels * p.OutputChannels, p.OutputChannels, $"{at} weights", problems);
                if (p.HasBias)
                    CheckWeight(p.Bias, p.OutputChannels, p.OutputChannels, $"{at} bias", problems);
                break;
            case NeuralNetworkLayer.LayerOneofCase.Activation when layer.Activation.NonlinearityTypeCase == ActivationParams.NonlinearityTypeOneofCase.None:
                problems.Add($"{at}: the activation's kind is not set");
                break;
            case NeuralNetworkLayer.LayerOneofCase.Pooling when layer.Pooling.PoolingPaddingTypeCase == PoolingLayerParams.PoolingPaddingTypeOneofCase.None:
                problems.Add($"{at}: pooling needs a padding type");
                break;
        }
    }

    /// <summary>Exactly one of floatValue, float16Value, rawValue holds <paramref name="count"/> values; quantised ones
    /// carry 8-bit linear parameters with one or <paramref name="channels"/> scales and biases.</summary>
    private static void CheckWeight(WeightParams? w, ulong count, ulong channels, string what, List<string> problems)
    {
        if (w is null)
        {
            problems.Add($"{what}: not set");
            return;
        }
        int set = (w.FloatValue.Count > 0 ? 1 : 0) + (w.Float16Value.IsEmpty ? 0 : 1) + (w.RawValue.IsEmpty ? 0 : 1);
        ulong held = w.FloatValue.Count > 0 ? (ulong)w.FloatValue.Count
            : !w.Float16Value.IsEmpty ? (ulong)w.Float16Value.Length / 2
            : (ulong)w.RawValue.Length;
        if (set != 1 || held != count)
            problems.Add($"{what}: needs exactly one of floatValue, float16Value, rawValue holding {count} values (holds {held} in {set} fields)");
        if (!w.RawValue.IsEmpty)
        {
            var linear = w.Quantization?.LinearQuantization;
            int scales = linear?.Scale.Count ?? 0;
            if (w.Quantization?.NumberOfBits != CoreMlWeights.Bits || linear is null || (scales != 1 && (ulong)scales != channels) || linear.Bias.Count != scales)
                problems.Add($"{what}: rawValue needs 8-bit linear quantisation with 1 or {channels} scales and as many biases");
        }
    }
}
