using Distill.Core.Models;
using Distill.Core.Quantization;
using TorchSharp;
using static Distill.Core.Export.Tflite.TfliteSchema;
using static TorchSharp.torch;

namespace Distill.Core.Export.Tflite;

/// <summary>Writes a zoo model as a TensorFlow Lite FlatBuffer: float32, or full-integer int8 from a frozen
/// <see cref="QuantizedZooModel"/> following the TFLite int8 quantisation spec.</summary>
/// <remarks>
/// Layout is NHWC: a cnn, resnet or mobilenet_v2 takes [batch, H, W, C], an mlp [batch, features] (the zoo
/// input flattened in C order). Batch norms are folded into their convs, dropouts are dropped, each ReLU or
/// ReLU6 is fused into the conv or fully connected layer before it; a residual add is an ADD with the ReLU
/// after it fused, a global average pool a MEAN over H and W. A strided conv is padded as PyTorch pads it
/// (float: PAD then VALID; int8: stride 1 then a 1x1 MAX_POOL_2D with the stride, as Arm NN pads int8 wrong).
/// The flatten before the head keeps PyTorch's NCHW order by permuting the columns of the first fully
/// connected weight from (C, H, W) to (H, W, C).
/// <para>int8: weights symmetric int8 in [−127, 127], per output channel for convs (axis 0 of [O,H,W,I];
/// depthwise: axis 3 of [1,H,W,C]) or per tensor, per tensor for fully connected layers (per-channel
/// scales of a fully connected weight are requantised to their maximum; calibrate with
/// <see cref="Int8QuantConfig"/> to have the fake-quantised model compute exactly that), activations
/// asymmetric int8 per tensor with the wrapper's frozen qparams, biases int32 with scale
/// in_scale·w_scale and zero point 0. Input and output are float32 with QUANTIZE/DEQUANTIZE at the
/// edges unless <see cref="ExportOptions.IntegerIo"/>.</para>
/// </remarks>
public sealed class TfliteExporter : IModelExporter
{
    public const string InputName = "input";
    public const string OutputName = "logits";

    /// <param name="batchSize">The fixed batch dimension of the input and output tensors.</param>
    public TfliteExporter(int batchSize = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        BatchSize = batchSize;
    }

    public int BatchSize { get; }

    /// <summary>A quantisation whose fake-quantised model computes what the exported int8 TFLite model
    /// computes: int8 per-channel conv weights, per-tensor fully connected weights (TFLite's int8 spec and
    /// Arm NN want one scale there; per-channel fully connected weights are requantised to one scale on
    /// export), int8 asymmetric activations.</summary>
    public static QuantConfig Int8QuantConfig { get; } = new()
    {
        Overrides = [new LayerOverride { Pattern = "head.*", Weights = QuantScheme.WeightInt8PerChannel with { PerChannel = false } }],
    };

    public ExportedModelInfo Export(ZooModel model, QuantizedZooModel? quantized, ExportOptions options, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var source = options.Precision switch
        {
            ExportPrecision.Float32 => (ILayerSource)new FloatLayerSource(model),
            ExportPrecision.Int8 => Int8LayerSource.Create(model, quantized),
            _ => throw new InvalidInputException($"TFLite export writes float32 or int8 models, not {options.Precision.ToString().ToLowerInvariant()}."),
        };

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var lowered = new TfliteLowering(model, source, BatchSize, options.IntegerIo && options.Precision == ExportPrecision.Int8).Lower();
        string description = $"Distill {model.GetName()} ({options.Precision.ToString().ToLowerInvariant()})";
        byte[] bytes = TfliteWriter.Serialize(lowered.Graph, description, options.Metadata);
        WriteAtomically(path, bytes);

        var input = lowered.Graph[lowered.Graph.Inputs[0]];
        var output = lowered.Graph[lowered.Graph.Outputs[0]];
        return new ExportedModelInfo(
            Path.GetFullPath(path),
            bytes.LongLength,
            input.Name,
            input.Shape.Select(d => (long)d).ToArray(),
            DType(input.Type),
            input.Shape.Length == 4 ? "NHWC" : "NC",
            output.Name,
            output.Shape.Select(d => (long)d).ToArray(),
            DType(output.Type),
            input.Type == TensorType.Int8 ? lowered.InputQuant : null,
            output.Type == TensorType.Int8 ? lowered.OutputQuant : null);
    }

    private static string DType(TensorType type) => type == TensorType.Int8 ? "int8" : "float32";

    private static void WriteAtomically(string path, byte[] bytes) => AtomicFile.Write(path, stream => stream.Write(bytes));
}
