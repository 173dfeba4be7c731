using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core;

/// <summary>The device a run computes on: "cpu" or "cuda". Whether CUDA can be used is a fact of the machine and
/// of the LibTorch build Distill was compiled with, so it is asked here at run time, never assumed.</summary>
public static class ComputeDevice
{
    public const string Cpu = "cpu";
    public const string Cuda = "cuda";

    /// <summary>The device names a recipe may give.</summary>
    public static IReadOnlyList<string> Names { get; } = [Cpu, Cuda];

    /// <summary>Null when <paramref name="name"/> can be used on this machine, else why not and how to get it.</summary>
    public static string? Unavailable(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name switch
        {
            Cpu => null,
            Cuda when cuda.is_available() => null,
            Cuda => CudaMissing(),
            _ => $"unknown device '{name}'; one of {string.Join(" | ", Names)}",
        };
    }

    /// <summary>The TorchSharp device for <paramref name="name"/>; <see cref="InvalidInputException"/> when it
    /// cannot be used here.</summary>
    public static Device Resolve(string name)
    {
        if (Unavailable(name) is { } why)
            throw new InvalidInputException($"device: {why}");
        return name == Cuda ? CUDA : CPU;
    }

    /// <summary>Where a module's tensors live: the device of its first parameter (or buffer); CPU for a module
    /// that has neither.</summary>
    public static Device Of(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var first = module.parameters().Cast<Tensor>().Concat(module.buffers()).FirstOrDefault();
        return first?.device ?? CPU;
    }

    /// <summary><paramref name="tensor"/> on <paramref name="device"/>: itself when it is there already (so the CPU
    /// path does no extra work), else a copy in the caller's dispose scope.</summary>
    public static Tensor Move(Tensor tensor, Device device)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ArgumentNullException.ThrowIfNull(device);
        return tensor.device_type == device.type ? tensor : tensor.to(device);
    }

    /// <summary>The CPU build cannot load LibTorch's CUDA backend; a CUDA build can, but then no GPU or driver is
    /// visible. The native library beside the program tells the two apart.</summary>
    private static string CudaMissing()
    {
        bool cudaBuild = File.Exists(Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "torch_cuda.dll" : "libtorch_cuda.so"));
        return cudaBuild
            ? "CUDA is not available: this build has LibTorch's CUDA backend, but torch.cuda.is_available() is false (no NVIDIA GPU or driver is visible; nvidia-smi shows what the machine has). Set device: cpu to run on the CPU"
            : "CUDA is not available in this build: Distill is built with the CPU-only LibTorch (NuGet package libtorch-cpu-linux-x64). "
              + "To train on an NVIDIA GPU, build Distill on a machine with the CUDA driver, referencing TorchSharp-cuda-linux "
              + "(which brings libtorch-cuda-12.8-linux-x64) instead of libtorch-cpu-linux-x64; those packages are not served by this "
              + "project's package feed, so fetch them from nuget.org. Set device: cpu to run here";
    }
}
