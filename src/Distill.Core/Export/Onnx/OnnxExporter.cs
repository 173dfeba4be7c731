using Distill.Core.Export.Onnx.Proto;
using Distill.Core.Models;
using Distill.Core.Quantization;
using Google.Protobuf;

namespace Distill.Core.Export.Onnx;

/// <summary>Writes zoo models as ONNX files: float32 (batch norm folded), float16, or int8 QDQ from a frozen
/// <see cref="QuantizedZooModel"/>. Input "input" [batch, ...InputShape] float32, output "logits"
/// [batch, classes] float32 (float16 both when <see cref="ExportOptions.Float32Io"/> is off); the batch
/// dimension is the symbolic "batch".</summary>
public sealed class OnnxExporter : IModelExporter
{
    public const string InputName = "input";
    public const string OutputName = "logits";
    public const string BatchDimension = "batch";
    public const string ProducerName = "distill";

    /// <summary>Lowest opset: per-axis DequantizeLinear needs 13.</summary>
    public const int MinOpset = 13;
    public const int MaxOpset = 22;

    public ExportedModelInfo Export(ZooModel model, QuantizedZooModel? quantized, ExportOptions options, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Validate(options);
        if (options.ExposeTaps && options.Precision == ExportPrecision.Int8)
        {
            throw new InvalidInputException("exposing taps is supported for float32 and float16 ONNX exports, not int8.");
        }
        if (options.Precision == ExportPrecision.Int8)
        {
            if (quantized is null)
            {
                throw new InvalidInputException("an int8 ONNX export needs the quantised model (calibrate or train with quantisation first).");
            }
            if (!ReferenceEquals(quantized.Model, model))
            {
                throw new ArgumentException("the quantised model wraps a different zoo model", nameof(quantized));
            }
            if (!quantized.IsFrozen)
            {
                throw new InvalidInputException("an int8 ONNX export needs frozen qparams: calibrate and freeze the quantised model, or run QAT past its observer steps.");
            }
        }

        var plan = ZooGraphPlan.From(model);
        var graph = new OnnxGraph();
        bool half = options.Precision == ExportPrecision.Float16;
        bool floatIo = !half || options.Float32Io;
        int ioType = floatIo ? OnnxGraph.Float : OnnxGraph.Float16;

        var taps = options.ExposeTaps ? new Dictionary<string, string>() : null;
        string input = InputName;
        if (half && floatIo)
        {
            input = graph.Node("Cast", "input.cast", [InputName], "input.float16", OnnxGraph.Int("to", OnnxGraph.Float16));
        }
        string logits = options.Precision == ExportPrecision.Int8
            ? QdqGraphLowering.Lower(graph, plan, quantized!, input)
            : FloatGraphLowering.Lower(graph, plan, half, input, taps);
        if (half && floatIo)
        {
            graph.Node("Cast", "logits.cast", [logits], OutputName, OnnxGraph.Int("to", OnnxGraph.Float));
        }
        else
        {
            RenameOutput(graph.Proto, logits, OutputName);
        }

        graph.Proto.Input.Add(OnnxGraph.TensorValue(InputName, ioType,
            model.InputShape.Select(d => (d, (string?)null)).Prepend((0L, BatchDimension))));
        graph.Proto.Output.Add(OnnxGraph.TensorValue(OutputName, ioType, [(0L, BatchDimension), (model.NumClasses, null)]));
        if (taps is not null)
        {
            AddTapOutputs(graph, model, taps, half && floatIo, ioType);
        }

        var proto = new ModelProto
        {
            IrVersion = options.OnnxIrVersion,
            ProducerName = ProducerName,
            ProducerVersion = VersionInfo.Distill,
            DocString = $"Distill {model.GetName()} classifier, {options.Precision}",
            Graph = graph.Proto,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.OnnxOpset });
        foreach (var (key, value) in options.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        AtomicFile.Write(path, stream => proto.WriteTo(stream));

        string dtype = floatIo ? "float32" : "float16";
        return new ExportedModelInfo(
            Path.GetFullPath(path),
            new FileInfo(path).Length,
            InputName,
            [-1, .. model.InputShape],
            dtype,
            Layout(model.InputShape.Length),
            OutputName,
            [-1, model.NumClasses],
            dtype,
            InputQuant: null,
            OutputQuant: null);
    }

    /// <summary>One graph output per tap of the model (logits aside), named like the tap: an Identity of the tap's
    /// tensor (a Cast back to float32 for a float16 graph with float32 I/O).</summary>
    private static void AddTapOutputs(OnnxGraph graph, ZooModel model, Dictionary<string, string> taps, bool castToFloat, int ioType)
    {
        foreach (string tap in model.TapNames.Where(t => t != ZooModel.LogitsTap))
        {
            string tensor = taps[tap];
            if (tensor == tap && castToFloat)
            {
                tensor = $"{tap}.float16";
                RenameTensor(graph.Proto, tap, tensor);
            }
            if (tensor != tap)
            {
                if (castToFloat)
                {
                    graph.Node("Cast", $"tap.{tap}", [tensor], tap, OnnxGraph.Int("to", OnnxGraph.Float));
                }
                else
                {
                    graph.Node("Identity", $"tap.{tap}", [tensor], tap);
                }
            }
            var dims = model.TapShape(tap).Select(d => (d, (string?)null)).Prepend((0L, BatchDimension));
            graph.Proto.Output.Add(OnnxGraph.TensorValue(tap, ioType, dims));
        }
    }

    private static void RenameTensor(GraphProto graph, string from, string to)
    {
        foreach (var node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == from)
                {
                    node.Input[i] = to;
                }
            }
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == from)
                {
                    node.Output[i] = to;
                }
            }
        }
    }

    private static void Validate(ExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options.Metadata);
        if (options.OnnxOpset < MinOpset || options.OnnxOpset > MaxOpset)
        {
            throw new InvalidInputException($"ONNX opset {options.OnnxOpset} is not supported: use {MinOpset}..{MaxOpset} (default 17).");
        }
        int minIr = MinIrVersion(options.OnnxOpset);
        if (options.OnnxIrVersion < minIr || options.OnnxIrVersion > 10)
        {
            throw new InvalidInputException($"ONNX IR version {options.OnnxIrVersion} does not go with opset {options.OnnxOpset}: use {minIr}..10 (default 8 with opset 17).");
        }
    }

    /// <summary>The IR version that introduced each opset (ONNX's versioning table).</summary>
    private static int MinIrVersion(int opset) => opset switch
    {
        <= 14 => 7,
        <= 18 => 8,
        <= 20 => 9,
        _ => 10,
    };

    private static string Layout(int rank) => rank switch
    {
        1 => "NC",
        3 => "NCHW",
        _ => $"N+{rank}D",
    };

    private static void RenameOutput(GraphProto graph, string from, string to)
    {
        var producer = graph.Node.Last(n => n.Output.Contains(from));
        producer.Output[producer.Output.IndexOf(from)] = to;
    }
}
