using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Models;

/// <summary>One conv block of a zoo cnn. Plain: conv → bn → relu → [pool]. Depthwise-separable:
/// depthwise conv → depthwise_bn → relu → conv (pointwise 1x1) → bn → relu → [pool].
/// Submodules are registered as "depthwise", "depthwise_bn", "conv", "bn", "pool" (only those present).</summary>
public sealed class ConvBlock : nn.Module<Tensor, Tensor>
{
    // Fields carry the registered names: when this block is registered in its parent, TorchSharp
    // reflects over the fields and registers them again under their field names. Auto-property
    // backing fields would appear a second time in the state dict as "<Conv>k__BackingField".
#pragma warning disable IDE1006
    private readonly Conv2d? depthwise;
    private readonly BatchNorm2d? depthwise_bn;
    private readonly Conv2d conv;
    private readonly BatchNorm2d? bn;
    private readonly MaxPool2d? pool;
#pragma warning restore IDE1006

    internal ConvBlock(string name, long inChannels, long outChannels, int kernelSize, bool depthwiseSeparable, bool batchNorm, bool pool)
        : base(name)
    {
        Nnpack.Disable();
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        long padding = kernelSize / 2;
        if (depthwiseSeparable)
        {
            depthwise = nn.Conv2d(inChannels, inChannels, kernelSize, padding: padding, groups: inChannels, bias: !batchNorm);
            register_module("depthwise", depthwise);
            if (batchNorm)
            {
                depthwise_bn = nn.BatchNorm2d(inChannels);
                register_module("depthwise_bn", depthwise_bn);
            }
            conv = nn.Conv2d(inChannels, outChannels, 1, bias: !batchNorm);
        }
        else
        {
            conv = nn.Conv2d(inChannels, outChannels, kernelSize, padding: padding, bias: !batchNorm);
        }
        register_module("conv", conv);
        if (batchNorm)
        {
            bn = nn.BatchNorm2d(outChannels);
            register_module("bn", bn);
        }
        if (pool)
        {
            this.pool = nn.MaxPool2d(2);
            register_module("pool", this.pool);
        }
    }

    public long InChannels { get; }
    public long OutChannels { get; }
    public int KernelSize { get; }

    /// <summary>Depthwise conv (groups = in channels); null for a plain block.</summary>
    public Conv2d? Depthwise => depthwise;
    public BatchNorm2d? DepthwiseBn => depthwise_bn;

    /// <summary>The k×k conv of a plain block, or the pointwise 1x1 conv of a depthwise-separable one.</summary>
    public Conv2d Conv => conv;
    public BatchNorm2d? Bn => bn;

    /// <summary>2x2 max-pool with stride 2 after the activation, or null.</summary>
    public MaxPool2d? Pool => pool;

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
