using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>One conv block of a zoo cnn. Plain: conv → bn → relu → [pool]. Depthwise-separable:
/// depthwise conv → depthwise_bn → relu → conv (pointwise 1x1) → bn → relu → [pool].
/// Submodules are registered as "depthwise", "depthwise_bn", "conv", "bn", "pool" (only those present).</summary>
public sealed class ConvBlock : nn.Module<Tensor, Tensor>
{
    internal ConvBlock(string name, long inChannels, long outChannels, int kernelSize, bool depthwiseSeparable, bool batchNorm, bool pool)
        : base(name)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        long padding = kernelSize / 2;
        if (depthwiseSeparable)
        {
            Depthwise = nn.Conv2d(inChannels, inChannels, kernelSize, padding: padding, groups: inChannels, bias: !batchNorm);
            register_module("depthwise", Depthwise);
            if (batchNorm)
            {
                DepthwiseBn = nn.BatchNorm2d(inChannels);
                register_module("depthwise_bn", DepthwiseBn);
            }
            Conv = nn.Conv2d(inChannels, outChannels, 1, bias: !batchNorm);
        }
        else
        {
            Conv = nn.Conv2d(inChannels, outChannels, kernelSize, padding: padding, bias: !batchNorm);
        }
        register_module("conv", Conv);
        if (batchNorm)
        {
            Bn = nn.BatchNorm2d(outChannels);
            register_module("bn", Bn);
        }
        if (pool)
        {
            Pool = nn.MaxPool2d(2);
            register_module("pool", Pool);
        }
    }

    public long InChannels { get; }
    public long OutChannels { get; }
    public int KernelSize { get; }

    /// <summary>Depthwise conv (groups = in channels); null for a plain block.</summary>
    public Conv2d? Depthwise { get; }
    public BatchNorm2d? DepthwiseBn { get; }

    /// <summary>The k×k conv of a plain block, or the pointwise 1x1 conv of a depthwise-separable one.</summary>
    public Conv2d Conv { get; }
    public BatchNorm2d? Bn { get; }

    /// <summary>2x2 max-pool with stride 2 after the activation, or null.</summary>
    public MaxPool2d? Pool { get; }

    public bool IsDepthwiseSeparable => Depthwise is not null;

    /// <summary>Spatial size after this block for an input of size <paramref name="inputSize"/>.</summary>
    internal static long OutputSize(long inputSize, int kernelSize, bool pool)
    {
        long convOut = inputSize + 2 * (kernelSize / 2) - kernelSize + 1;
        return pool ? convOut / 2 : convOut;
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x;
        if (Depthwise is not null)
        {
            h = Depthwise.call(h);
            if (DepthwiseBn is not null)
            {
                h = DepthwiseBn.call(h);
            }
            h = nn.functional.relu(h);
        }
        h = Conv.call(h);
        if (Bn is not null)
        {
            h = Bn.call(h);
        }
        h = nn.functional.relu(h);
        if (Pool is not null)
        {
            h = Pool.call(h);
        }
        return h.MoveToOuterDisposeScope();
    }
}
