namespace Distill.Runtime.Tests;

public sealed class FamilyPolicyTests
{
    /// <summary>Three variants as a width family measures: more accurate costs more time and energy.</summary>
    internal static FamilyManifest Family(FamilyPolicy? policy = null) => new(
        FamilyManifest.CurrentVersion, "x86-vnni", new FamilyInput("input", [1, 8, 8]),
        new FamilyMeasurement(1, 100, "test"),
        [
            Variant("small", 0.880, 0.020, 0.05),
            Variant("base", 0.905, 0.050, 0.12),
            Variant("wide", 0.912, 0.150, 0.40),
        ],
        policy ?? new FamilyPolicy());

    internal static FamilyVariant Variant(string name, double accuracy, double batch1Ms, double energyMj) =>
        new(name, name + ".onnx", new string('0', 64), 1000, 4000, accuracy, new VariantLatency(batch1Ms, batch1Ms * 20), 1 << 20, energyMj, "estimated:cpu-time");

    [Fact]
    public void On_ac_power_without_a_budget_the_most_accurate_variant_serves()
    {
        var choice = new FamilyPolicy().Pick(Family(), DeviceState.Default);
        Assert.Equal("wide", choice.Variant.Name);
        Assert.Contains("the most accurate", choice.Reason);
    }

    [Fact]
    public void On_ac_power_the_budget_rules_out_slower_variants()
    {
        var choice = new FamilyPolicy(AcBudgetMs: 0.1).Pick(Family(), DeviceState.Default);
        Assert.Equal("base", choice.Variant.Name);
        Assert.Contains("within 0.1 ms", choice.Reason);
    }

    [Fact]
    public void On_battery_the_cheapest_variant_within_the_accuracy_margin_serves()
    {
        var battery = new DeviceState(PowerSource.Battery, 80, ThermalState.Nominal);
        // best 91.2 %: base (90.5 %) is within 1 point, small (88.0 %) is not.
        Assert.Equal("base", new FamilyPolicy().Pick(Family(), battery).Variant.Name);
        Assert.Equal("small", new FamilyPolicy(BatteryWithinPoints: 3.5).Pick(Family(), battery).Variant.Name);
    }

    [Fact]
    public void A_low_battery_takes_the_cheapest_variant_of_all()
    {
        var choice = new FamilyPolicy().Pick(Family(), new DeviceState(PowerSource.Battery, 20, ThermalState.Nominal));
        Assert.Equal("small", choice.Variant.Name);
        Assert.Contains("battery at 20 % (at or below 20 %", choice.Reason);
    }

    [Fact]
    public void A_hot_device_takes_the_fastest_variant_even_on_ac()
    {
        var choice = new FamilyPolicy().Pick(Family(), new DeviceState(PowerSource.Ac, null, ThermalState.Serious));
        Assert.Equal("small", choice.Variant.Name);
        Assert.Equal("base", new FamilyPolicy().Pick(Family(), new DeviceState(PowerSource.Ac, null, ThermalState.Fair), budgetMs: 0.1).Variant.Name);
    }

    [Fact]
    public void A_budget_no_variant_meets_is_refused_naming_the_constraint()
    {
        var error = Assert.Throws<PolicyException>(() => new FamilyPolicy().Pick(Family(), DeviceState.Default, budgetMs: 0.01));
        Assert.Equal("no variant meets the latency budget of 0.01 ms at batch 1: the fastest, 'small', takes 0.02 ms", error.Message);
    }

    [Fact]
    public void The_switcher_waits_for_the_configured_readings_before_it_switches()
    {
        var switcher = new FamilySwitcher(Family(new FamilyPolicy(SwitchAfterReadings: 3)));
        var ac = DeviceState.Default;
        var battery = new DeviceState(PowerSource.Battery, 80, ThermalState.Nominal);
        string[] served =
        [
            .. new[] { ac, battery, battery, ac, battery, battery, battery, battery }.Select(s => switcher.Observe(s).Variant.Name),
        ];
        // The ac reading in the middle resets the count: base serves from the third battery reading in a row.
        Assert.Equal(["wide", "wide", "wide", "wide", "wide", "wide", "base", "base"], served);
    }

    [Fact]
    public void The_switcher_leaves_at_once_on_a_critical_thermal_state()
    {
        var switcher = new FamilySwitcher(Family(new FamilyPolicy(SwitchAfterReadings: 5)));
        Assert.Equal("wide", switcher.Observe(DeviceState.Default).Variant.Name);
        var choice = switcher.Observe(new DeviceState(PowerSource.Ac, null, ThermalState.Critical, 101));
        Assert.Equal("small", choice.Variant.Name);
        Assert.StartsWith("switched at once", choice.Reason);
    }
}
