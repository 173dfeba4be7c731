using System.Reflection;

namespace Distill.Core;

public static class VersionInfo
{
    /// <summary>The informational version stamped at build time: version plus the git commit.</summary>
    public static string Distill { get; } =
        typeof(VersionInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    public static string Torch => TorchSharp.torch.__version__;
}
