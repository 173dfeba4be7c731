using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Quantization;

public enum QuantTensorRole { Input, Weight, Activation }

/// <summary>The final quantisation of one tensor of a quantised model, as an exporter needs it.</summary>
/// <param name="Name">"input", "block0.conv.weight", "block0.conv.output", "head.out.output", …</param>
/// <param name="Layer">The layer it belongs to ("block0.conv"), or "input".</param>
public sealed record QuantTensorParams(string Name, string Layer, QuantTensorRole Role, QParams Params);

/// <summary>The observer, the frozen qparams and (with LSQ) the learned scale of one tensor.</summary>
internal sealed class TensorQuantizer
{
    private readonly IObserver _observer;

    public TensorQuantizer(string name, string layer, QuantTensorRole role, QuantScheme scheme, IObserver observer, Parameter? lsqLogScale, long scales)
    {
        Scales = scales;
        Name = name;
        Layer = layer;
        Role = role;
        Scheme = scheme;
        _observer = observer;
        LsqLogScale = lsqLogScale;
    }

    public string Name { get; }
    public string Layer { get; }
    public QuantTensorRole Role { get; }
    public QuantScheme Scheme { get; }
    /// <summary>LSQ: the natural log of the learned step size(s). Learning the log keeps the step positive
    /// and makes an optimiser's step relative to the scale (with Adam, linear step sizes of about 1e-3
    /// were pushed below zero within a few steps and training diverged).</summary>
    public Parameter? LsqLogScale { get; }
    /// <summary>Number of scale/zero-point pairs: 1, or the channels of a per-channel weight.</summary>
    public long Scales { get; }
    public QParams? Frozen { get; private set; }
    public bool HasObserved => Frozen is not null || _observer.HasObserved;

    /// <summary>Weights are observed afresh each time (their range is the current weights' range);
    /// activations accumulate over batches.</summary>
    public void Observe(Tensor x)
    {
        using var noGrad = no_grad();
        if (Role == QuantTensorRole.Weight)
        {
            _observer.Reset();
        }
        _observer.Observe(x);
    }

    /// <summary>Frozen qparams, or the observer's current proposal.</summary>
    public QParams Current() => Frozen ?? QParams.FromRange(Scheme, _observer.ComputeRange());

    public void Freeze()
    {
        Frozen = Current();
        if (LsqLogScale is not null)
            SetLogScale(Frozen.Scale.Select(s => MathF.Log(s)).ToArray());
    }

    /// <summary>Takes saved qparams (as <see cref="Export"/> gave them) as the frozen ones. With LSQ the
    /// learned log step sizes are restored from <paramref name="learnedLogScale"/> when given (exactly as
    /// they were), else from the saved scales.</summary>
    public void Restore(QParams saved, float[]? learnedLogScale)
    {
        if (saved.Count != Scales || saved.ZeroPoint.Length != Scales || (learnedLogScale is not null && learnedLogScale.Length != Scales))
        {
            throw new InvalidInputException($"saved qparams of '{Name}' have {saved.Count} scales, the model needs {Scales}.");
        }
        Frozen = saved;
        if (LsqLogScale is not null)
            SetLogScale(learnedLogScale ?? saved.Scale.Select(s => MathF.Log(s)).ToArray());
    }

    /// <summary>The learned log step sizes as they are (null without LSQ).</summary>
    public float[]? LearnedLogScale()
    {
        if (LsqLogScale is null)
            return null;
        using var values = LsqLogScale.detach().cpu();
        return values.data<float>().ToArray();
    }

    private void SetLogScale(float[] values)
    {
        using var noGrad = no_grad();
        using var logScale = tensor(values);
        LsqLogScale!.copy_(logScale);
    }

    public Tensor FakeQuantize(Tensor x)
    {
        if (Frozen is not null && LsqLogScale is not null)
        {
            long channels = Scheme.PerChannel ? x.shape[Scheme.ChannelAxis] : 1;
            long perScale = Role == QuantTensorRole.Weight ? x.numel() / channels : x.numel() / Math.Max(1, x.shape[0]);
            using var scope = NewDisposeScope();
            return FakeQuant.ApplyLsq(x, LsqLogScale.exp(), Frozen.ZeroPoint, Scheme, FakeQuant.LsqGradScale(perScale, Scheme))
                .MoveToOuterDisposeScope();
        }
        return FakeQuant.Apply(x, Current());
    }

    /// <summary>The qparams in use: frozen ones, with LSQ's learned scales in place of the observed ones.</summary>
    public QParams Export()
    {
        if (Frozen is null)
        {
            throw new InvalidOperationException($"the qparams of '{Name}' are not frozen yet: calibrate and Freeze(), or run QAT past its observer steps");
        }
        if (LsqLogScale is null)
        {
            return Frozen;
        }
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var scale = LsqLogScale.exp().ClampedBelow(QParams.MinScale);
        return Frozen with { Scale = scale.cpu().data<float>().ToArray() };
    }
}
