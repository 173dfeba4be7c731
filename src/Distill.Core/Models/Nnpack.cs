using System.Runtime.InteropServices;

namespace Distill.Core.Models;

/// <summary>
/// Keeps LibTorch from considering NNPACK for CPU convolutions. When LibTorch picks a conv kernel it asks
/// whether NNPACK is available (at::_nnpack_available), and on a CPU that NNPACK does not support that
/// call logs "Could not initialize NNPACK! Reason: Unsupported hardware." to stderr each time. LibTorch
/// checks the user switch at::globalContext().userEnabledNNPACK() first (PyTorch sets it with
/// torch.backends.nnpack.set_flags); TorchSharp 0.107 does not expose that switch, so this calls the
/// C++ functions libtorch_cpu exports. Convolutions then run in oneDNN or LibTorch's own kernels.
/// </summary>
internal static class Nnpack
{
    // Itanium C++ ABI names (Linux, macOS) of at::globalContext(), at::Context::setUserEnabledNNPACK(bool)
    // and at::Context::userEnabledNNPACK() const. A member function takes the object as its first argument.
    private const string GlobalContextSymbol = "_ZN2at13globalContextEv";
    private const string SetEnabledSymbol = "_ZN2at7Context20setUserEnabledNNPACKEb";
    private const string GetEnabledSymbol = "_ZNK2at7Context17userEnabledNNPACKEv";

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GlobalContextFn();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetEnabledFn(IntPtr context, byte enabled);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate byte GetEnabledFn(IntPtr context);

    private static readonly Lazy<bool> Disabled = new(() =>
    {
        if (Functions() is not { } functions)
            return false;
        functions.Set(functions.Context, 0);
        return true;
    });

    /// <summary>Turns NNPACK off for the process (once; later calls do nothing). False where the switch
    /// cannot be reached (another C++ ABI, e.g. Windows): there LibTorch keeps its default.</summary>
    public static bool Disable() => Disabled.Value;

    /// <summary>LibTorch's switch as it is now, or null where it cannot be read.</summary>
    public static bool? IsEnabled() => Functions() is { } functions ? functions.Get(functions.Context) != 0 : null;

    private static (IntPtr Context, SetEnabledFn Set, GetEnabledFn Get)? Functions()
    {
        string? library = OperatingSystem.IsLinux() ? "libtorch_cpu.so" : OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : null;
        if (library is null)
            return null;
        // TorchSharp loads LibTorch first; loading by its file name then yields the copy already in the
        // process (the dynamic linker matches the soname), not a second one with its own global context.
        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
        if (!NativeLibrary.TryLoad(library, out var handle)
            || !NativeLibrary.TryGetExport(handle, GlobalContextSymbol, out var globalContext)
            || !NativeLibrary.TryGetExport(handle, SetEnabledSymbol, out var set)
            || !NativeLibrary.TryGetExport(handle, GetEnabledSymbol, out var get))
            return null;
        var context = Marshal.GetDelegateForFunctionPointer<GlobalContextFn>(globalContext)();
        return (context, Marshal.GetDelegateForFunctionPointer<SetEnabledFn>(set), Marshal.GetDelegateForFunctionPointer<GetEnabledFn>(get));
    }
}
