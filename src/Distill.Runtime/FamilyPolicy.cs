using System.Globalization;

namespace Distill.Runtime;

/// <summary>The variant a policy picked and why, in words a person can check against the manifest.</summary>
public sealed record VariantChoice(FamilyVariant Variant, string Reason);

/// <summary>
/// Which variant a device state allows. In order: from <see cref="FastestFrom"/> on, the fastest variant (batch-1
/// latency); on battery at or below <see cref="LowBatteryPercent"/>, the cheapest variant (energy per inference);
/// on battery, the cheapest of the variants within <see cref="BatteryWithinPoints"/> accuracy points of the best; on
/// AC power, the most accurate variant whose batch-1 latency is within <see cref="AcBudgetMs"/> (no budget: the
/// most accurate). <see cref="SwitchAfterReadings"/> is the hysteresis of <see cref="FamilySwitcher"/>.
/// </summary>
public sealed record FamilyPolicy(
    double? AcBudgetMs = null,
    double BatteryWithinPoints = 1.0,
    int LowBatteryPercent = 20,
    ThermalState FastestFrom = ThermalState.Serious,
    int SwitchAfterReadings = 3)
{
    /// <param name="budgetMs">Replaces <see cref="AcBudgetMs"/> when given.</param>
    /// <exception cref="PolicyException">No variant meets the latency budget.</exception>
    public VariantChoice Pick(FamilyManifest manifest, DeviceState state, double? budgetMs = null)
    {
        var variants = manifest.Variants;
        if (state.Thermal >= FastestFrom)
        {
            var fastest = variants.MinBy(v => v.Latency.Batch1Ms)!;
            return new(fastest, $"thermal {Name(state.Thermal)} (from {Name(FastestFrom)} on: the fastest variant): " +
                $"'{fastest.Name}', {Ms(fastest.Latency.Batch1Ms)} at batch 1");
        }
        if (state.Power == PowerSource.Battery)
        {
            if (state.BatteryPercent is int percent && percent <= LowBatteryPercent)
            {
                var cheapest = variants.MinBy(v => v.Cost)!;
                return new(cheapest, $"battery at {percent} % (at or below {LowBatteryPercent} %: the cheapest variant): " +
                    $"'{cheapest.Name}', {Energy(cheapest)} per inference");
            }
            var best = variants.MaxBy(v => v.TestAccuracy)!;
            var chosen = variants.Where(v => (best.TestAccuracy - v.TestAccuracy) * 100 <= BatteryWithinPoints + 1e-9).MinBy(v => v.Cost)!;
            return new(chosen, $"on battery (the cheapest within {Points(BatteryWithinPoints)} of the best, '{best.Name}' at " +
                $"{Percent(best.TestAccuracy)}): '{chosen.Name}', {Percent(chosen.TestAccuracy)}, {Energy(chosen)} per inference");
        }
        double? budget = budgetMs ?? AcBudgetMs;
        if (budget is not double limit)
        {
            var most = MostAccurate(variants);
            return new(most, $"on AC power with no latency budget (the most accurate): '{most.Name}', {Percent(most.TestAccuracy)}");
        }
        var fitting = variants.Where(v => v.Latency.Batch1Ms <= limit).ToList();
        if (fitting.Count == 0)
        {
            var fastest = variants.MinBy(v => v.Latency.Batch1Ms)!;
            throw new PolicyException($"no variant meets the latency budget of {Ms(limit)} at batch 1: the fastest, " +
                $"'{fastest.Name}', takes {Ms(fastest.Latency.Batch1Ms)}");
        }
        var pick = MostAccurate(fitting);
        return new(pick, $"on AC power (the most accurate within {Ms(limit)} at batch 1): '{pick.Name}', " +
            $"{Percent(pick.TestAccuracy)}, {Ms(pick.Latency.Batch1Ms)}");
    }

    internal void Check(string path, FamilyManifest manifest)
    {
        if (BatteryWithinPoints < 0)
            throw new ManifestException(path, $"policy.battery_within_points is {BatteryWithinPoints}; it must be 0 or more");
        if (LowBatteryPercent is < 0 or > 100)
            throw new ManifestException(path, $"policy.low_battery_percent is {LowBatteryPercent}; it must be 0 to 100");
        if (SwitchAfterReadings < 1)
            throw new ManifestException(path, $"policy.switch_after_readings is {SwitchAfterReadings}; it must be at least 1");
        if (AcBudgetMs is double budget)
        {
            if (budget <= 0)
                throw new ManifestException(path, $"policy.ac_budget_ms is {budget}; it must be positive");
            try
            {
                Pick(manifest, DeviceState.Default);
            }
            catch (PolicyException e)
            {
                throw new ManifestException(path, $"policy.ac_budget_ms: {e.Message}");
            }
        }
    }

    private static FamilyVariant MostAccurate(IEnumerable<FamilyVariant> variants) =>
        variants.OrderByDescending(v => v.TestAccuracy).ThenBy(v => v.Latency.Batch1Ms).First();

    private static string Name(ThermalState state) => state.ToString().ToLowerInvariant();
    private static string Ms(double ms) => ms.ToString("0.#####", CultureInfo.InvariantCulture) + " ms";
    private static string Percent(double accuracy) => (accuracy * 100).ToString("F2", CultureInfo.InvariantCulture) + " %";
    private static string Points(double points) => points.ToString("0.##", CultureInfo.InvariantCulture) + (points == 1 ? " point" : " points");
    private static string Energy(FamilyVariant v) =>
        v.EnergyMjPerInference.ToString("0.####", CultureInfo.InvariantCulture) + $" mJ ({v.EnergyMethod})";
}

/// <summary>A device state for which the policy allows no variant; the message names the constraint.</summary>
public sealed class PolicyException(string message) : Exception(message);
