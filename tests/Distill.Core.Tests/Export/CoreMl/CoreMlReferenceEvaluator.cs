using Distill.Core.Export.CoreMl.Proto;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Export.CoreMl;

/// <summary>
/// Runs the layers of a parsed Core ML neural-network classifier as Apple's specification (NeuralNetwork.proto) defines
/// them, for the layer kinds Distill writes, with the weights decoded from the file: floatValue, float16Value (IEEE half,
/// little-endian) or 8-bit rawValue with linear quantisation (W = q · scale + bias per output channel or per tensor).
/// There is no Core ML runtime outside Apple's systems; this stands in for one in the tests. Computation is float32
/// (a Core ML runtime computes fp16 files in fp16 or fp32 depending on the device, so fp16 figures here show the
/// weights' rounding only).
/// </summary>
internal sealed class CoreMlReferenceEvaluator(Model model)
{
    /// <summary>The blobs after running <paramref name="input"/> [N, ...the file's input shape without its batch of 1]:
    /// N runs of the file at once (every layer acts on each sample alone).</summary>
    public IReadOnlyDictionary<string, Tensor> Run(Tensor input)
    {
        var description = model.Description.Input.Single();
        long[] shape = [.. description.Type.MultiArrayType.Shape];
        if (shape[0] != 1 || !input.shape.Skip(1).SequenceEqual(shape.Skip(1)))
            throw new ArgumentException($"the file takes [{string.Join(", ", shape)}], got samples of [{string.Join(", ", input.shape.Skip(1))}]");
        var blobs = new Dictionary<string, Tensor> { [description.Name] = input };
        foreach (var layer in model.NeuralNetworkClassifier.Layers)
            blobs[layer.Output.Single()] = Evaluate(layer, blobs[layer.Input.Single()]);
        return blobs;
    }

    private static Tensor Evaluate(NeuralNetworkLayer layer, Tensor x) => layer.LayerCase switch
    {
        NeuralNetworkLayer.LayerOneofCase.Convolution => Convolution(layer.Convolution, x),
        NeuralNetworkLayer.LayerOneofCase.InnerProduct => InnerProduct(layer.InnerProduct, x),
        NeuralNetworkLayer.LayerOneofCase.Activation when layer.Activation.NonlinearityTypeCase == ActivationParams.NonlinearityTypeOneofCase.ReLU =>
            nn.functional.relu(x),
        NeuralNetworkLayer.LayerOneofCase.Pooling => Pooling(layer.Pooling, x),
        // FlattenTo2D with axis 1: [d0, d1, ...] → [d0, d1·...]; d0 is the batch (1 in the file, N here).
        NeuralNetworkLayer.LayerOneofCase.FlattenTo2D when layer.FlattenTo2D.Axis == 1 => x.reshape(x.shape[0], -1),
        NeuralNetworkLayer.LayerOneofCase.SoftmaxND when layer.SoftmaxND.Axis == -1 => nn.functional.softmax(x, -1),
        _ => throw new NotSupportedException($"layer '{layer.Name}' ({layer.LayerCase}) is not a kind Distill writes"),
    };

    /// <summary>ValidPadding with border amounts: zero padding [top, bottom] × [left, right], then a valid convolution
    /// of weights [outputChannels, kernelChannels, kH, kW] in nGroups groups.</summary>
    private static Tensor Convolution(ConvolutionLayerParams p, Tensor x)
    {
        Assert.False(p.IsDeconvolution);
        var weights = Decode(p.Weights, (long)p.OutputChannels).reshape((long)p.OutputChannels, (long)p.KernelChannels, (long)p.KernelSize[0], (long)p.KernelSize[1]);
        var bias = p.HasBias ? Decode(p.Bias, (long)p.OutputChannels) : null;
        var border = p.Valid.PaddingAmounts?.BorderAmounts_;
        if (border is { Count: 2 })
        {
            x = nn.functional.pad(x, [(long)border[1].StartEdgeSize, (long)border[1].EndEdgeSize, (long)border[0].StartEdgeSize, (long)border[0].EndEdgeSize]);
        }
        return nn.functional.conv2d(x, weights, bias, strides: [.. p.Stride.Select(s => (long)s)], dilation: [.. p.DilationFactor.Select(d => (long)d)],
            groups: (long)Math.Max(p.NGroups, 1));
    }

    /// <summary>Rank 2 input [N, C_in] → [N, C_out] with weights [C_out, C_in].</summary>
    private static Tensor InnerProduct(InnerProductLayerParams p, Tensor x)
    {
        var weights = Decode(p.Weights, (long)p.OutputChannels).reshape((long)p.OutputChannels, (long)p.InputChannels);
        var y = x.matmul(weights.t());
        return p.HasBias ? y + Decode(p.Bias, (long)p.OutputChannels) : y;
    }

    private static Tensor Pooling(PoolingLayerParams p, Tensor x)
    {
        Assert.Equal(PoolingLayerParams.Types.PoolingType.Max, p.Type);
        Assert.False(p.GlobalPooling);
        Assert.True(p.Valid.PaddingAmounts is null || p.Valid.PaddingAmounts.BorderAmounts_.All(b => b.StartEdgeSize == 0 && b.EndEdgeSize == 0));
        return nn.functional.max_pool2d(x, [.. p.KernelSize.Select(k => (long)k)], [.. p.Stride.Select(s => (long)s)]);
    }

    /// <summary>The float32 values of <paramref name="w"/>, whose quantisation parameters (if any) have one entry or
    /// one per output channel (the leading dimension).</summary>
    private static Tensor Decode(WeightParams w, long channels)
    {
        if (w.FloatValue.Count > 0)
            return tensor(w.FloatValue.ToArray());
        if (!w.Float16Value.IsEmpty)
        {
            var bytes = w.Float16Value.Span;
            var values = new float[bytes.Length / 2];
            for (int i = 0; i < values.Length; i++)
                values[i] = (float)BitConverter.ToHalf(bytes.Slice(i * 2, 2));
            return tensor(values);
        }
        Assert.Equal(8UL, w.Quantization.NumberOfBits);
        var raw = w.RawValue.Span;
        var linear = w.Quantization.LinearQuantization;
        Assert.True(linear.Scale.Count == 1 || linear.Scale.Count == channels);
        long per = raw.Length / linear.Scale.Count;
        var dequantised = new float[raw.Length];
        for (int i = 0; i < raw.Length; i++)
            dequantised[i] = (raw[i] * linear.Scale[(int)(i / per)]) + linear.Bias[(int)(i / per)];
        return tensor(dequantised);
    }
}
