namespace Distill.Runtime;

public enum PowerSource { Ac, Battery }

/// <summary>How hot the device is, from the thermal zones' trip points: Fair at a passive trip (the kernel starts
/// throttling), Serious at a hot trip, Critical at a critical trip (the kernel shuts down soon).</summary>
public enum ThermalState { Nominal, Fair, Serious, Critical }

/// <summary>What the policy decides on. <paramref name="BatteryPercent"/> is null on AC power or when unknown;
/// <paramref name="TemperatureC"/> is the hottest zone's, null when no zone was readable.</summary>
public sealed record DeviceState(PowerSource Power, int? BatteryPercent, ThermalState Thermal, double? TemperatureC = null)
{
    public static readonly DeviceState Default = new(PowerSource.Ac, null, ThermalState.Nominal);

    public override string ToString() =>
        (Power == PowerSource.Ac ? "on AC power" : BatteryPercent is int p ? $"on battery at {p} %" : "on battery")
        + $", thermal {Thermal.ToString().ToLowerInvariant()}"
        + (TemperatureC is double t ? $" ({t:F1} °C)" : "");
}
