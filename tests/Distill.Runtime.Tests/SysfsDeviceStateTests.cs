namespace Distill.Runtime.Tests;

public sealed class SysfsDeviceStateTests : IDisposable
{
    private readonly FakeSysfs _sys = new();

    public void Dispose() => _sys.Dispose();

    private DeviceState Read() => new SysfsDeviceState(_sys.Root).Read();

    [Fact]
    public void A_laptop_unplugged_is_on_battery_at_its_capacity()
    {
        _sys.Mains("AC", online: false);
        _sys.Battery("BAT0", 37, "Discharging");
        var state = Read();
        Assert.Equal(PowerSource.Battery, state.Power);
        Assert.Equal(37, state.BatteryPercent);
    }

    [Fact]
    public void A_laptop_plugged_in_is_on_ac_whatever_its_battery_says()
    {
        _sys.Mains("AC", online: true);
        _sys.Battery("BAT0", 12, "Discharging");
        Assert.Equal(new DeviceState(PowerSource.Ac, null, ThermalState.Nominal), Read());
    }

    [Fact]
    public void A_charging_battery_means_external_power_even_without_a_mains_supply()
    {
        _sys.Battery("BAT0", 50, "Charging");
        Assert.Equal(PowerSource.Ac, Read().Power);
    }

    [Fact]
    public void Two_batteries_report_their_mean_capacity_and_an_absent_one_is_left_out()
    {
        _sys.Battery("BAT0", 30, "Discharging");
        _sys.Battery("BAT1", 71, "Discharging");
        _sys.Battery("BAT2", 0, "Unknown", present: false);
        Assert.Equal(51, Read().BatteryPercent); // (30 + 71) / 2 = 50.5, rounded half up
    }

    [Fact]
    public void A_machine_without_power_supplies_or_thermal_zones_is_on_ac_and_nominal()
    {
        Assert.Equal(DeviceState.Default, Read());
    }

    [Theory]
    [InlineData(60_000, "Nominal")]
    [InlineData(85_000, "Fair")] // passive trip at 85 °C: the kernel starts throttling
    [InlineData(96_500, "Serious")]
    [InlineData(105_000, "Critical")]
    public void The_thermal_state_follows_the_zones_trip_points(int milliCelsius, string expected)
    {
        _sys.Zone(0, milliCelsius, ("active", 50_000), ("passive", 85_000), ("hot", 95_000), ("critical", 105_000));
        var state = Read();
        Assert.Equal(Enum.Parse<ThermalState>(expected), state.Thermal);
        Assert.Equal(milliCelsius / 1000.0, state.TemperatureC);
    }

    [Fact]
    public void The_hottest_state_over_zones_wins_and_an_unreadable_zone_is_skipped()
    {
        _sys.Zone(0, 40_000, ("passive", 85_000));
        _sys.UnreadableZone(1);
        _sys.Zone(2, 90_000, ("passive", 88_000), ("critical", 100_000));
        var state = Read();
        Assert.Equal(ThermalState.Fair, state.Thermal);
        Assert.Equal(90.0, state.TemperatureC);
    }

    [Fact]
    public void A_zone_without_trip_points_uses_the_documented_defaults()
    {
        _sys.Zone(0, (int)(SysfsDeviceState.DefaultThresholdsC.Serious * 1000));
        Assert.Equal(ThermalState.Serious, Read().Thermal);
    }
}
