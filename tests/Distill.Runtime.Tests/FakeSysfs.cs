namespace Distill.Runtime.Tests;

/// <summary>
/// A sysfs tree in a temporary folder, written as the kernel presents it (Documentation/ABI/testing/sysfs-class-power
/// and sysfs-class-thermal): one value per file with a trailing newline, power_supply types Battery / Mains / USB,
/// online 0 or 1, capacity 0 to 100, status one of Unknown, Charging, Discharging, Not charging, Full, and
/// temperatures in millidegrees Celsius. It refuses values the kernel never writes, so that a reader tested on it
/// cannot depend on a format Linux does not produce.
/// </summary>
public sealed class FakeSysfs : IDisposable
{
    private static readonly string[] Types = ["Battery", "UPS", "Mains", "USB", "Wireless"];
    private static readonly string[] Statuses = ["Unknown", "Charging", "Discharging", "Not charging", "Full"];
    private static readonly string[] TripTypes = ["critical", "hot", "passive", "active"];

    public string Root { get; } = Directory.CreateTempSubdirectory("distill-sysfs-").FullName;

    public void Mains(string name, bool online)
    {
        string folder = Supply(name, "Mains");
        Write(folder, "online", online ? "1" : "0");
    }

    public void Battery(string name, int capacity, string status, bool present = true)
    {
        if (capacity is < 0 or > 100)
            throw new ArgumentOutOfRangeException(nameof(capacity), "the kernel reports capacity as 0 to 100");
        if (!Statuses.Contains(status))
            throw new ArgumentException($"'{status}' is not a power_supply status the kernel writes");
        string folder = Supply(name, "Battery");
        Write(folder, "present", present ? "1" : "0");
        Write(folder, "capacity", capacity.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Write(folder, "status", status);
    }

    /// <param name="trips">(type, millidegrees) per trip point, numbered from 0 as the kernel does.</param>
    public void Zone(int index, int milliCelsius, params (string Type, int MilliCelsius)[] trips)
    {
        string folder = Path.Combine(Root, "class", "thermal", $"thermal_zone{index}");
        Directory.CreateDirectory(folder);
        Write(folder, "type", "x86_pkg_temp");
        Write(folder, "temp", milliCelsius.ToString(System.Globalization.CultureInfo.InvariantCulture));
        for (int i = 0; i < trips.Length; i++)
        {
            if (!TripTypes.Contains(trips[i].Type))
                throw new ArgumentException($"'{trips[i].Type}' is not a trip point type the kernel writes");
            Write(folder, $"trip_point_{i}_type", trips[i].Type);
            Write(folder, $"trip_point_{i}_temp", trips[i].MilliCelsius.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>A zone whose temp cannot be read (real drivers answer EIO or ENODATA): a folder where the file would be.</summary>
    public void UnreadableZone(int index)
    {
        string folder = Path.Combine(Root, "class", "thermal", $"thermal_zone{index}");
        Directory.CreateDirectory(Path.Combine(folder, "temp"));
    }

    private string Supply(string name, string type)
    {
        if (!Types.Contains(type))
            throw new ArgumentException($"'{type}' is not a power_supply type the kernel writes");
        string folder = Path.Combine(Root, "class", "power_supply", name);
        Directory.CreateDirectory(folder);
        Write(folder, "type", type);
        return folder;
    }

    private static void Write(string folder, string name, string value) => File.WriteAllText(Path.Combine(folder, name), value + "\n");

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
