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

    public TensorQuantizer(string name, string layer, QuantTensorRole role, QuantScheme scheme, IObserver observer, Parameter? lsqScale, long scales)
    {
        Scales = scales;
        Name = name;
        Layer = layer;
        Role = role;
        Scheme = scheme;
        _observer = observer;
        LsqScale = lsqScale;
    }

    public string Name { get; }
    public string Layer { get; }
    public QuantTensorRole Role { get; }
    public QuantScheme Scheme { get; }
    public Parameter? LsqScale { get; }
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
        if (LsqScale is not null)
        {
            using var noGrad = no_grad();
            using var scale = tensor(Frozen.Scale);
            LsqScale.copy_(scale);
        }
    }

    /// <summary>Takes saved qparams (as <see cref="Export"/> gave them) as the frozen ones; with LSQ they
    /// are also the learned scale's value.</summary>
    public void Restore(QParams saved)
    {
        if (saved.Count != Scales || saved.ZeroPoint.Length != Scales)
        {
            throw new InvalidInputException($"saved qparams of '{Name}' have {saved.Count} scales, the model needs {Scales}.");
        }
        Frozen = saved;
        if (LsqScale is not null)
        {
            using var noGrad = no_grad();
            using var scale = tensor(saved.Scale);
            LsqScale.copy_(scale);
        }
    }

    public Tensor FakeQuantize(Tensor x)
    {
        if (Frozen is not null && LsqScale is not null)
        {
            long channels = Scheme.PerChannel ? x.shape[Scheme.ChannelAxis] : 1;
            long perScale = Role == QuantTensorRole.Weight ? x.numel() / channels : x.numel() / Math.Max(1, x.shape[0]);
            return FakeQuant.ApplyLsq(x, LsqScale, Frozen.ZeroPoint, Scheme, FakeQuant.LsqGradScale(perScale, Scheme));
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
        if (LsqScale is null)
        {
            return Frozen;
        }
        using var noGrad = no_grad();
        using var scale = LsqScale.clamp_min(QParams.MinScale);
        return Frozen with { Scale = scale.data<float>().ToArray() };
    }
}
