using Distill.Core.Models;

namespace Distill.Core.Tests.Models;

/// <summary>LibTorch logs "Could not initialize NNPACK! Reason: Unsupported hardware." each time it considers
/// NNPACK for a conv on a CPU that NNPACK does not support; building a cnn switches NNPACK off so it never asks.</summary>
public class NnpackTests
{
    [Fact]
    public void Building_a_cnn_switches_nnpack_off_in_the_loaded_libtorch()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [4], KernelSize = 3 }, [1, 8, 8], 10);
        Assert.False(Nnpack.IsEnabled(), "LibTorch's userEnabledNNPACK is still on after building a cnn");

        // The switch was set in the LibTorch that TorchSharp runs, not in a second copy of it.
        var copies = File.ReadLines("/proc/self/maps").Where(l => l.EndsWith("/libtorch_cpu.so", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf('/', StringComparison.Ordinal))..]).Distinct().ToList();
        Assert.Single(copies);

        // Convolutions still run (oneDNN or LibTorch's own kernels), at batch 1 too where oneDNN is not always chosen.
        using var scope = TorchSharp.torch.NewDisposeScope();
        foreach (long batch in new long[] { 1, 32 })
        {
            var logits = model.call(TorchSharp.torch.ones(batch, 1, 8, 8));
            Assert.Equal([batch, 10], logits.shape);
            Assert.True(logits.isfinite().all().item<bool>());
        }
    }
}
