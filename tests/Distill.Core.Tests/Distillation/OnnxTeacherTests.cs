using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Export.Onnx.Proto;
using Distill.Core.Models;
using Distill.Core.Tests.Export;
using Google.Protobuf;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Distillation;

/// <summary>An ONNX teacher built here by hand (Flatten then Gemm with known weights), so that every output can
/// be computed on paper; and the checks made when a teacher file is loaded.</summary>
public class OnnxTeacherTests
{
    // Gemm weights [3 classes, 4 inputs] and bias: scores = W · flat + b.
    private static readonly float[] Weight = [1, 0, 0, 0, 0, 1, 1, 0, 1, -1, 2, 3];
    private static readonly float[] Bias = [0.5f, -1, 0];

    /// <summary>input "x" [batch, ...inputShape] → Flatten → "flat" [batch, 4] → Gemm → "scores" [batch, 3].
    /// Outputs: scores, then flat.</summary>
    private static void WriteHandModel(string path, long[] inputShape, int? fixedBatch = null)
    {
        var graph = new GraphProto { Name = "hand" };
        graph.Node.Add(Node("Flatten", ["x"], "flat", new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        graph.Node.Add(Node("Gemm", ["flat", "W", "b"], "scores", new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        graph.Initializer.Add(FloatTensor("W", Weight, [3, 4]));
        graph.Initializer.Add(FloatTensor("b", Bias, [3]));
        graph.Input.Add(Value("x", fixedBatch, inputShape));
        graph.Output.Add(Value("scores", fixedBatch, [3]));
        graph.Output.Add(Value("flat", fixedBatch, [4]));
        var model = new ModelProto { IrVersion = 8, ProducerName = "hand", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        File.WriteAllBytes(path, model.ToByteArray());
    }

    private static NodeProto Node(string op, string[] inputs, string output, AttributeProto attribute)
    {
        var node = new NodeProto { OpType = op, Name = op.ToLowerInvariant() };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.Add(attribute);
        return node;
    }

    private static TensorProto FloatTensor(string name, float[] values, long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.FloatData.AddRange(values);
        return tensor;
    }

    private static ValueInfoProto Value(string name, int? fixedBatch, long[] sampleShape)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(fixedBatch is { } b ? new TensorShapeProto.Types.Dimension { DimValue = b } : new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        foreach (long d in sampleShape)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static OnnxTeacherOptions Options(string path) => new()
    {
        Path = path,
        LogitsOutput = "scores",
        Taps = new Dictionary<string, string> { ["flat"] = "flat" },
        Mean = [0.5],
        Std = [0.25],
    };

    [Fact]
    public void OutputsEqualHandComputedValuesWithThePreprocessingDeclared()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [1, 2, 2]);
        using var scope = NewDisposeScope();
        // The data was not normalised: the student's input is the raw sample.
        using var teacher = OnnxTeacher.Load(Options(path), path, [1, 2, 2], numClasses: 3, dataNormalization: null);

        var raw = tensor(new float[] { 1, 0, 0.5f, 0.75f, 0.5f, 0.5f, 0.5f, 0.5f }, [2, 1, 2, 2]);
        var (logits, taps) = teacher.ForwardWithTaps(raw, ["flat"]);

        // Sample 0: (x − 0.5) / 0.25 = [2, −2, 0, 1]; scores = [2 + 0.5, −2 + 0 − 1, 2 + 2 + 0 + 3] = [2.5, −3, 7].
        // Sample 1: all 0.5 → flat 0 → scores = bias.
        Assert.Equal([2, 3], logits.shape);
        Assert.Equal(new float[] { 2.5f, -3, 7, 0.5f, -1, 0 }, logits.data<float>().ToArray());
        Assert.Equal(new float[] { 2, -2, 0, 1, 0, 0, 0, 0 }, taps["flat"].data<float>().ToArray());
        Assert.Equal([4L], teacher.TapShape("flat"));
        Assert.Equal(["flat"], teacher.TapNames);
    }

    [Fact]
    public void DeviceCudaAsksForOnnxRuntimesCudaProviderAndThisBuildHasNone()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [1, 2, 2]);
        // Microsoft.ML.OnnxRuntime is the CPU package: a teacher of a cuda run cannot silently run on the CPU.
        Assert.DoesNotContain("CUDAExecutionProvider", Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders());
        var e = Assert.Throws<InvalidInputException>(() => OnnxTeacher.Load(Options(path), path, [1, 2, 2], 3, null, new Device(TorchSharp.DeviceType.CUDA)));
        Assert.StartsWith($"ONNX model '{path}': device: cuda runs ONNX teachers with ONNX Runtime's CUDA execution provider", e.Message);
        Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu", e.Message);
        using var onCpu = OnnxTeacher.Load(Options(path), path, [1, 2, 2], 3, null, CPU);
        Assert.Equal(3L, onCpu.Classes);
    }

    [Fact]
    public void EvaluationStopsWhenCancelled()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [4]);
        using var teacher = OnnxTeacher.Load(Options(path) with { Mean = null, Std = null }, path, [4], 3, null);
        using var data = new TensorDataset(rand(600, 4), zeros(600, dtype: ScalarType.Int64));
        Assert.Equal(600, teacher.Evaluate(data).Samples);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => teacher.Evaluate(data, cancelled.Token));
    }

    [Fact]
    public void TheTeacherUndoesTheDataNormalisationBeforeItsOwn()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [1, 2, 2]);
        using var scope = NewDisposeScope();
        // The student sees (raw − 0.25) / 0.5; the teacher must still get (raw − 0.5) / 0.25.
        using var teacher = OnnxTeacher.Load(Options(path), path, [1, 2, 2], 3, new Normalization([0.25], [0.5]));
        var raw = tensor(new float[] { 1, 0, 0.5f, 0.75f }, [1, 1, 2, 2]);
        var (logits, _) = teacher.ForwardWithTaps((raw - 0.25f) / 0.5f, []);
        var expected = new float[] { 2.5f, -3, 7 };
        var actual = logits.data<float>().ToArray();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(expected[i], actual[i], 5);
        }
    }

    [Fact]
    public void NhwcLayoutMovesChannelsLast()
    {
        using var folder = new ExportFolder();
        string path = folder.File("nhwc.onnx");
        // Student samples [C=2, H=1, W=2]; the file takes [H=1, W=2, C=2].
        WriteHandModel(path, [1, 2, 2]);
        using var scope = NewDisposeScope();
        var options = Options(path) with { Layout = TeacherInputLayout.Nhwc, Mean = null, Std = null };
        using var teacher = OnnxTeacher.Load(options, path, [2, 1, 2], 3, null);
        // Channel 0 = [1, 2], channel 1 = [3, 4] → channels last, flattened: [1, 3, 2, 4].
        var x = tensor(new float[] { 1, 2, 3, 4 }, [1, 2, 1, 2]);
        var (_, taps) = teacher.ForwardWithTaps(x, ["flat"]);
        Assert.Equal(new float[] { 1, 3, 2, 4 }, taps["flat"].data<float>().ToArray());
    }

    [Fact]
    public void FixedBatchFilesRunInTheirBatchSizeAndDropThePadding()
    {
        using var folder = new ExportFolder();
        string path = folder.File("fixed.onnx");
        WriteHandModel(path, [4], fixedBatch: 2);
        using var scope = NewDisposeScope();
        using var teacher = OnnxTeacher.Load(Options(path) with { Mean = null, Std = null, BatchSize = 64 }, path, [4], 3, null);
        var x = tensor(new float[] { 2, -2, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1 }, [3, 4]);
        var (logits, _) = teacher.ForwardWithTaps(x, []);
        // Third sample: [1+0.5, 1+1−1, 1−1+2+3] = [1.5, 1, 5].
        Assert.Equal(new float[] { 2.5f, -3, 7, 0.5f, -1, 0, 1.5f, 1, 5 }, logits.data<float>().ToArray());
    }

    [Fact]
    public void ServesAsTheTeacherOfKdAndHintLossesAndOfTheOutputCache()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [4]);
        using var scope = NewDisposeScope();
        using var teacher = OnnxTeacher.Load(Options(path) with { Mean = null, Std = null }, path, [4], 3, null);
        manual_seed(3);
        using var student = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [5] }, [4], 3);
        var options = new LossOptions
        {
            Terms = [new KdOptions { Temperature = 2, Alpha = 0.5 }, DistillationLossTests.Hint(new HintOptions { StudentTap = "hidden0", TeacherTap = "flat" })],
        };
        using var loss = DistillationLossTests.NewLoss(options, student, teacher);
        Assert.IsType<TorchSharp.Modules.Linear>(loss.Adapters["adapter"]);

        var x = randn(6, 4);
        var labels = tensor(new long[] { 0, 1, 2, 0, 1, 2 });
        using var cache = TeacherOutputCache.Build(teacher, x, loss.TeacherTaps, batchSize: 4);
        var (cachedLogits, cachedTaps) = cache.Lookup([5, 0]);
        var (liveLogits, liveTaps) = teacher.ForwardWithTaps(x.index_select(0, tensor(new long[] { 5, 0 })), ["flat"]);
        Assert.True(cachedLogits.eq(liveLogits).all().item<bool>());
        Assert.True(cachedTaps["flat"].eq(liveTaps["flat"]).all().item<bool>());

        var (logits, taps) = student.ForwardWithTaps(x, loss.StudentTaps);
        var (teacherLogits, teacherTaps) = teacher.ForwardWithTaps(x, loss.TeacherTaps);
        var terms = loss.Compute(new LossInputs(new ModelOutputs(logits, taps), new ModelOutputs(teacherLogits, teacherTaps), labels));
        Assert.True(terms.Part("kd")!.item<float>() > 0);
        Assert.True(terms.Part("hint")!.item<float>() > 0);

        var evaluation = teacher.Evaluate(new TensorDataset(x.clone(), labels.clone()));
        long correct = teacherLogits.argmax(1).eq(labels).sum().item<long>();
        Assert.Equal(correct / 6.0, evaluation.Accuracy, 12);
    }

    [Fact]
    public void MissingOutputNamesTheFileAndListsItsOutputs()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [4]);
        var error = Assert.Throws<InvalidInputException>(() =>
            OnnxTeacher.Load(new OnnxTeacherOptions { Path = path, LogitsOutput = "logits" }, path, [4], 3, null));
        Assert.Contains(path, error.Message);
        Assert.Contains("no output 'logits' (teacher.outputs.logits)", error.Message);
        Assert.Contains("its outputs: scores [?,3], flat [?,4]", error.Message);

        error = Assert.Throws<InvalidInputException>(() =>
            OnnxTeacher.Load(Options(path) with { Taps = new Dictionary<string, string> { ["block1"] = "block1" }, Mean = null, Std = null }, path, [4], 3, null));
        Assert.Contains("no output 'block1' (teacher.outputs.taps.block1)", error.Message);
    }

    [Fact]
    public void LogitsWidthMustBeTheStudentsClasses()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [4]);
        var error = Assert.Throws<InvalidInputException>(() => OnnxTeacher.Load(Options(path) with { Mean = null, Std = null }, path, [4], 10, null));
        Assert.Contains(path, error.Message);
        Assert.Contains("logits output 'scores' gives [batch,3]", error.Message);
        Assert.Contains("the student has 10 classes", error.Message);

        // The flat output as logits is [batch, 4], not [batch, 3].
        error = Assert.Throws<InvalidInputException>(() =>
            OnnxTeacher.Load(new OnnxTeacherOptions { Path = path, LogitsOutput = "flat" }, path, [4], 3, null));
        Assert.Contains("gives [batch,4]", error.Message);
    }

    [Fact]
    public void InputShapeMustFitTheData()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [1, 2, 2]);
        var error = Assert.Throws<InvalidInputException>(() => OnnxTeacher.Load(Options(path), path, [1, 8, 8], 3, null));
        Assert.Contains(path, error.Message);
        Assert.Contains("input 'x' takes [?,1,2,2]", error.Message);
        Assert.Contains("the data's sample shape is [1,8,8]", error.Message);

        error = Assert.Throws<InvalidInputException>(() => OnnxTeacher.Load(Options(path) with { Mean = null, Std = null }, path, [4], 3, null));
        Assert.Contains("input 'x' takes [?,1,2,2]", error.Message);

        error = Assert.Throws<InvalidInputException>(() => OnnxTeacher.Load(Options(path) with { InputName = "image" }, path, [1, 2, 2], 3, null));
        Assert.Contains("no input 'image' (teacher.input.name); its inputs: x [?,1,2,2]", error.Message);

        error = Assert.Throws<InvalidInputException>(() => OnnxTeacher.Load(Options(path) with { Mean = [0.5, 0.5], Std = [1, 1] }, path, [1, 2, 2], 3, null));
        Assert.Contains("2 mean and 2 std values, but the data has 1 channel(s)", error.Message);
    }

    [Fact]
    public void CorruptOrMissingFilesAreBadInput()
    {
        using var folder = new ExportFolder();
        string path = folder.File("corrupt.onnx");
        File.WriteAllText(path, "this is not an ONNX model");
        var error = Assert.Throws<InvalidInputException>(() => OnnxTeacher.Load(new OnnxTeacherOptions { Path = path }, path, [4], 3, null));
        Assert.Contains($"ONNX Runtime cannot load '{path}'", error.Message);

        string missing = folder.File("missing.onnx");
        error = Assert.Throws<InvalidInputException>(() => OnnxTeacher.Load(new OnnxTeacherOptions { Path = missing }, missing, [4], 3, null));
        Assert.Contains($"'{missing}' does not exist", error.Message);
    }

    [Fact]
    public void TapsUsedByHintsMustBeDeclared()
    {
        using var folder = new ExportFolder();
        string path = folder.File("hand.onnx");
        WriteHandModel(path, [4]);
        using var teacher = OnnxTeacher.Load(Options(path) with { Mean = null, Std = null }, path, [4], 3, null);
        using var student = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [5] }, [4], 3);
        var options = new LossOptions { Terms = [DistillationLossTests.Hint(new HintOptions { StudentTap = "hidden0", TeacherTap = "block1" })] };
        var error = Assert.Throws<InvalidInputException>(() => DistillationLossTests.NewLoss(options, student, teacher));
        Assert.Contains($"Hint teacher tap 'block1' is not a tap of the teacher (ONNX model '{path}'); valid taps: flat", error.Message);
        Assert.Throws<InvalidInputException>(() => teacher.TapShape("block1"));
    }
}
