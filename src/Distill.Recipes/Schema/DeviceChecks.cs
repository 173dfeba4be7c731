namespace Distill.Recipes.Schema;

/// <summary>The recipe's device must exist on the machine that runs it: refused at the device line, before any
/// data is read, instead of being ignored.</summary>
internal static class DeviceChecks
{
    public static void Run(MapValue root, DeviceSupport devices, List<RecipeError> errors)
    {
        if (root.Get("device") is ScalarValue { Raw: string device } value && devices.Unavailable(device) is { } why)
        {
            errors.Add(value.At.Error($"device: {why}"));
        }
    }
}
