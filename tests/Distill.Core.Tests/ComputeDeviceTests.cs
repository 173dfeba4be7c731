using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests;

/// <summary>This machine (and CI) has the CPU-only LibTorch: CUDA must be refused with a message that says how to get it.</summary>
public class ComputeDeviceTests
{
    [Fact]
    public void CpuIsAlwaysThere()
    {
        Assert.Null(ComputeDevice.Unavailable("cpu"));
        Assert.Equal(DeviceType.CPU, ComputeDevice.Resolve("cpu").type);
    }

    [Fact]
    public void CudaIsRefusedByTheCpuBuildWithWhatToInstall()
    {
        Assert.False(cuda.is_available(), "this test expects the CPU build of LibTorch");
        var e = Assert.Throws<InvalidInputException>(() => ComputeDevice.Resolve("cuda"));
        Assert.StartsWith("device: CUDA is not available in this build", e.Message);
        Assert.Contains("TorchSharp-cuda-linux", e.Message);
    }

    [Fact]
    public void UnknownDeviceIsRefused()
    {
        Assert.Equal("unknown device 'tpu'; one of cpu | cuda", ComputeDevice.Unavailable("tpu"));
    }

    [Fact]
    public void ModuleDeviceIsWhereItsParametersAre()
    {
        using var linear = nn.Linear(2, 3);
        Assert.Equal(DeviceType.CPU, ComputeDevice.Of(linear).type);
        using var empty = nn.ReLU();
        Assert.Equal(DeviceType.CPU, ComputeDevice.Of(empty).type);
    }
}
