using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Pruning;
using Distill.Core.Quantization;
using Distill.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests;

/// <summary>With device: cuda every tensor a step touches must be on the GPU: LibTorch refuses an op that mixes
/// devices. There is no GPU here, so these tests use LibTorch's meta device as the second device: it enforces the
/// same rule (an op mixing meta and CPU tensors fails, as one mixing CUDA and CPU tensors does) but holds no data,
/// so only the placement of what each component creates is checked, not values (values are the CPU tests'). This
/// LibTorch has meta kernels for few ops (not conv, abs, index_select, logical_and), so the teacher caches, the
/// losses and whole steps cannot be run here; they are untested on a second device.</summary>
public class DevicePlacementTests
{
    private static readonly Device Meta = new(DeviceType.META);

    [Fact]
    public void MixingDevicesFailsAsOnAGpu()
    {
        using var scope = NewDisposeScope();
        var onMeta = ones(new long[] { 2, 3 }, device: Meta);
        Assert.ThrowsAny<Exception>(() => onMeta + ones(2, 3));
    }

    [Fact]
    public void BatchesGoToTheRequestedDeviceWhileTheDataStaysInCpuMemory()
    {
        using var scope = NewDisposeScope();
        using var data = new TensorDataset(rand(10, 4), zeros(10, dtype: ScalarType.Int64));
        var (x, y) = data.Batch([3, 1], Meta);
        Assert.Equal((DeviceType.META, DeviceType.META), (x.device_type, y.device_type));
        Assert.Equal(DeviceType.CPU, data.Features.device_type);
    }

    [Fact]
    public void FakeQuantisationKeepsItsScalesOnTheTensorsDevice()
    {
        using var scope = NewDisposeScope();
        var weight = rand(new long[] { 4, 2, 3, 3 }, device: Meta);
        var perChannel = new QuantScheme { Bits = 8, Symmetric = true, PerChannel = true };
        var qparams = new QParams(perChannel, [0.1f, 0.2f, 0.3f, 0.4f], [0, 0, 0, 0]);
        // Per channel: the scales are [4, 1, 1, 1], not a scalar that LibTorch would let a CPU tensor lend any device.
        Assert.Equal(DeviceType.META, FakeQuant.Quantize(weight, qparams).device_type);
    }

    [Fact]
    public void QuantisedViewCreatesItsLearnedScalesBesideTheModel()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [4, 8], Hidden = [6] }, [1, 8, 8], 3).to(Meta);
        using var quantized = new QuantizedZooModel(model, new QuantConfig { LearnedStepSize = true }, QuantMode.Qat);
        Assert.All(quantized.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
        Assert.Contains(quantized.named_parameters(), p => p.name.EndsWith("_log_scale", StringComparison.Ordinal));
    }

    [Fact]
    public void PruningMasksAreMadeOnTheWeightsDevice()
    {
        using var scope = NewDisposeScope();
        var weight = rand(new long[] { 4, 8 }, device: Meta);
        var old = ones(new long[] { 4, 8 }, device: Meta);
        var mask = PruningCriteria.ChannelMask([true, false, true, true], weight.shape, weight.device);
        Assert.Equal(DeviceType.META, mask.mul(old).device_type);
    }

    [Fact]
    public void MasksReadFromACheckpointMoveToTheirParametersDevice()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [6] }, [4], 3);
        using var masks = new MaskSet();
        masks.Set("head.fc0.weight", ones(6, 4));
        model.to(Meta);
        var bound = masks.Bind(model);
        Assert.Equal(DeviceType.META, Assert.Single(bound).Mask.device_type);
        Assert.Equal(DeviceType.META, masks.Get("head.fc0.weight")!.device_type);
    }
}
