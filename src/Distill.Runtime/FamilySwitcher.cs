namespace Distill.Runtime;

/// <summary>
/// Applies a family's policy to a stream of device-state readings with hysteresis: a different pick replaces the
/// current variant only after it has been the pick for <see cref="FamilyPolicy.SwitchAfterReadings"/> readings in a
/// row, so that a state hovering at a threshold does not swap models on every call. A critical thermal state
/// switches at once.
/// </summary>
public sealed class FamilySwitcher(FamilyManifest manifest, double? budgetMs = null)
{
    private FamilyVariant? _current;
    private FamilyVariant? _wanted;
    private int _streak;

    public FamilyVariant? Current => _current;

    public VariantChoice Observe(DeviceState state)
    {
        var pick = manifest.Policy.Pick(manifest, state, budgetMs);
        if (_current is null || pick.Variant == _current || state.Thermal == ThermalState.Critical)
        {
            bool switched = _current is not null && pick.Variant != _current;
            _current = pick.Variant;
            (_wanted, _streak) = (null, 0);
            return switched ? pick with { Reason = $"switched at once: {pick.Reason}" } : pick;
        }
        _streak = pick.Variant == _wanted ? _streak + 1 : 1;
        _wanted = pick.Variant;
        int needed = manifest.Policy.SwitchAfterReadings;
        if (_streak >= needed)
        {
            _current = pick.Variant;
            (_wanted, _streak) = (null, 0);
            return pick with { Reason = $"switched after {needed} reading(s): {pick.Reason}" };
        }
        return new VariantChoice(_current, $"kept '{_current.Name}': '{pick.Variant.Name}' is wanted for {_streak} of {needed} readings ({pick.Reason})");
    }
}
