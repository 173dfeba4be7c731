using System.Globalization;

namespace Distill.Runtime;

/// <summary>
/// Reads the device state from Linux sysfs (the kernel's ABI documents sysfs-class-power and sysfs-class-thermal):
/// &lt;root&gt;/class/power_supply/*/{type,online,present,status,capacity} and
/// &lt;root&gt;/class/thermal/thermal_zone*/{temp,trip_point_N_temp,trip_point_N_type}, temperatures in millidegrees
/// Celsius. The root is /sys unless a test points it elsewhere. A file that cannot be read or parsed (some zones
/// answer EIO or ENODATA on real hardware) is left out, never fatal.
/// </summary>
public sealed class SysfsDeviceState(string root = "/sys")
{
    /// <summary>Used for a zone that lists no passive, hot or critical trip point.</summary>
    public static readonly (double Fair, double Serious, double Critical) DefaultThresholdsC = (80, 90, 100);

    public DeviceState Read()
    {
        var (power, percent) = ReadPower();
        var (thermal, temperature) = ReadThermal();
        return new DeviceState(power, percent, thermal, temperature);
    }

    /// <summary>AC when a mains, USB or wireless supply is online, or when no supply is listed (desktops, servers
    /// and virtual machines list none); otherwise on battery, unless a battery reports it is charging.</summary>
    private (PowerSource, int?) ReadPower()
    {
        string folder = Path.Combine(root, "class", "power_supply");
        if (!Directory.Exists(folder))
            return (PowerSource.Ac, null);
        bool externalOnline = false;
        bool charging = false;
        var capacities = new List<int>();
        bool anyBattery = false;
        foreach (string supply in Directory.GetDirectories(folder).Order(StringComparer.Ordinal))
        {
            string? type = ReadText(supply, "type");
            if (type == "Battery")
            {
                if (ReadInt(supply, "present") == 0)
                    continue;
                anyBattery = true;
                if (ReadText(supply, "status") == "Charging")
                    charging = true;
                if (ReadInt(supply, "capacity") is int capacity and >= 0 and <= 100)
                    capacities.Add(capacity);
            }
            else if (type is "Mains" or "USB" or "Wireless" && ReadInt(supply, "online") is int online && online != 0)
                externalOnline = true; // 1 is online, 2 online and programmable
        }
        if (externalOnline || charging || !anyBattery)
            return (PowerSource.Ac, null);
        return (PowerSource.Battery, capacities.Count == 0 ? null : (int)Math.Round(capacities.Average(), MidpointRounding.AwayFromZero));
    }

    /// <summary>The worst state over the readable zones, with the hottest temperature.</summary>
    private (ThermalState, double?) ReadThermal()
    {
        string folder = Path.Combine(root, "class", "thermal");
        if (!Directory.Exists(folder))
            return (ThermalState.Nominal, null);
        var worst = ThermalState.Nominal;
        double? hottest = null;
        foreach (string zone in Directory.GetDirectories(folder, "thermal_zone*").Order(StringComparer.Ordinal))
        {
            if (ReadInt(zone, "temp") is not int milli)
                continue;
            double celsius = milli / 1000.0;
            hottest = Math.Max(hottest ?? double.MinValue, celsius);
            var state = ZoneState(zone, celsius);
            if (state > worst)
                worst = state;
        }
        return (worst, hottest);
    }

    private static ThermalState ZoneState(string zone, double celsius)
    {
        double? passive = null, hot = null, critical = null;
        for (int i = 0; ; i++)
        {
            string? type = ReadText(zone, $"trip_point_{i}_type");
            if (type is null)
                break;
            if (ReadInt(zone, $"trip_point_{i}_temp") is not int milli)
                continue;
            double trip = milli / 1000.0;
            switch (type)
            {
                case "passive": passive = Math.Min(passive ?? double.MaxValue, trip); break;
                case "hot": hot = Math.Min(hot ?? double.MaxValue, trip); break;
                case "critical": critical = Math.Min(critical ?? double.MaxValue, trip); break;
            } // "active" trips start fans: not a reason to change models
        }
        if (passive is null && hot is null && critical is null)
            (passive, hot, critical) = DefaultThresholdsC;
        if (critical is double c && celsius >= c)
            return ThermalState.Critical;
        if (hot is double h && celsius >= h)
            return ThermalState.Serious;
        if (passive is double p && celsius >= p)
            return ThermalState.Fair;
        return ThermalState.Nominal;
    }

    private static string? ReadText(string folder, string name)
    {
        try
        {
            return File.ReadAllText(Path.Combine(folder, name)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static int? ReadInt(string folder, string name) =>
        int.TryParse(ReadText(folder, name), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) ? value : null;
}
