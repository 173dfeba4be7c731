using Distill.Core.Data;
using Distill.Core.Models;
using Distill.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>A zoo model rebuilt from a model checkpoint (its architecture from the checkpoint's header), frozen in eval
/// mode, as a teacher. It receives what it was trained on: the student's input, re-normalised from the data's
/// normalisation to the one the checkpoint records (<see cref="InputAffine"/>; nothing is done when the two are the
/// same, as for a checkpoint of a run on the same data).</summary>
public sealed class CheckpointTeacher : ITeacher, IDisposable
{
    private readonly ZooModel _model;
    private readonly Tensor? _scale;
    private readonly Tensor? _shift;

    private CheckpointTeacher(ZooModel model, string path, (Tensor Scale, Tensor Shift)? affine)
    {
        _model = model;
        Path = path;
        _scale = affine?.Scale;
        _shift = affine?.Shift;
    }

    /// <summary>Full path of the checkpoint file.</summary>
    public string Path { get; }

    public long ParameterCount => _model.ParameterCount;

    public IReadOnlyList<string> TapNames => _model.TapNames;

    public string Description => $"{_model.GetName()} from checkpoint '{Path}'";

    /// <summary>Loads the checkpoint and checks that its model takes the data's samples (<paramref name="sampleShape"/>)
    /// and gives <paramref name="numClasses"/> logits; problems throw <see cref="InvalidInputException"/> naming the file.</summary>
    public static CheckpointTeacher Load(string path, long[] sampleShape, int numClasses, Normalization? dataNormalization, Device device)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        path = System.IO.Path.GetFullPath(path);
        var (model, descriptor) = ModelCheckpoint.Load(path);
        (Tensor Scale, Tensor Shift)? affine = null;
        try
        {
            string holds = $"{path}: checkpoint holds {descriptor.Describe()}";
            if (!descriptor.InputShape.SequenceEqual(sampleShape))
                throw new InvalidInputException($"{holds}, but the data's samples are [{string.Join(", ", sampleShape)}]: a teacher must take the student's input");
            if (descriptor.NumClasses != numClasses)
                throw new InvalidInputException($"{holds}, but the data (and the student) have {numClasses} classes: a teacher's logits must be the student's classes");
            affine = Renormalization(descriptor.Normalization, dataNormalization, sampleShape, path);
            model.eval();
            return new CheckpointTeacher(model.to(device), path, affine is { } a ? (On(a.Scale, device), On(a.Shift, device)) : null);
        }
        catch
        {
            model.Dispose();
            affine?.Scale.Dispose();
            affine?.Shift.Dispose();
            throw;
        }
    }

    public long[] TapShape(string tap) => _model.TapShape(tap);

    public (Tensor Logits, IReadOnlyDictionary<string, Tensor> Taps) ForwardWithTaps(Tensor x, IReadOnlyCollection<string> taps)
    {
        ArgumentNullException.ThrowIfNull(x);
        return _model.ForwardWithTaps(_scale is null || _shift is null ? x : (x * _scale).Plus(_shift), taps);
    }

    public void Dispose()
    {
        _model.Dispose();
        _scale?.Dispose();
        _shift?.Dispose();
    }

    /// <summary>The teacher's own tensor on <paramref name="device"/> (the CPU copy freed when it moved).</summary>
    private static Tensor On(Tensor tensor, Device device)
    {
        if (tensor.device_type == device.type)
            return tensor;
        var moved = tensor.to(device).DetachFromDisposeScope();
        tensor.Dispose();
        return moved;
    }

    /// <summary>Null when the checkpoint was trained on inputs normalised as the data's are.</summary>
    private static (Tensor Scale, Tensor Shift)? Renormalization(Normalization? trained, Normalization? data, long[] sampleShape, string path)
    {
        if (trained is null ? data is null : data is not null && trained.Mean.SequenceEqual(data.Mean) && trained.Std.SequenceEqual(data.Std))
            return null;
        int channels = InputAffine.Channels(sampleShape);
        bool fits = trained is null || ((trained.Mean.Length == 1 || trained.Mean.Length == channels) && trained.Std.Length == trained.Mean.Length
            && trained.Std.All(s => double.IsFinite(s) && s > 0) && trained.Mean.All(double.IsFinite));
        if (!fits)
            throw new InvalidInputException($"{path}: checkpoint records a normalisation of {trained!.Mean.Length} mean and {trained.Std.Length} std values that does not fit {channels} channel(s) of positive finite std");
        return InputAffine.Of(sampleShape, data, trained?.Mean, trained?.Std);
    }
}
