using Distill.Core;

namespace Distill.Recipes;

/// <summary>Which compute devices the machine that runs a recipe offers. The schema only knows that a device is
/// "cpu" or "cuda"; whether CUDA works is a fact of the machine and of the LibTorch build, so the caller passes
/// it in and an unusable device is reported at its recipe line like any other error.</summary>
public sealed class DeviceSupport(Func<string, string?> unavailable)
{
    /// <summary>This process: asks LibTorch (only when a recipe names a device other than cpu).</summary>
    public static DeviceSupport ThisMachine { get; } = new(ComputeDevice.Unavailable);

    /// <summary>For commands that read a recipe for its data only (eval, export): they compute on the CPU
    /// whatever device the recipe trained on.</summary>
    public static DeviceSupport Any { get; } = new(_ => null);

    /// <summary>Null when <paramref name="device"/> can be used, else why not and how to get it.</summary>
    public string? Unavailable(string device) => unavailable(device);
}
