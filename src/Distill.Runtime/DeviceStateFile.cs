using System.Text.Json;

namespace Distill.Runtime;

/// <summary>
/// A device state kept in a JSON file, for apps that learn the state from their platform (or tests and demos that
/// change it by rewriting the file): {"power": "battery", "battery_percent": 15, "thermal": "nominal",
/// "temperature_c": 41.5}; only "power" is required.
/// </summary>
public static class DeviceStateFile
{
    public static DeviceState Read(string path) => Parse(File.ReadAllText(path), path);

    /// <param name="where">Names the text in errors: a file, or file:line.</param>
    public static DeviceState Parse(string json, string where)
    {
        DeviceState? state;
        try
        {
            state = JsonSerializer.Deserialize<DeviceState>(json, FamilyManifest.Json);
        }
        catch (JsonException e)
        {
            throw new ManifestException(where, $"not a device state: {e.Message}");
        }
        if (state is null)
            throw new ManifestException(where, "is empty");
        if (state.BatteryPercent is < 0 or > 100)
            throw new ManifestException(where, $"battery_percent is {state.BatteryPercent}; it must be 0 to 100");
        return state;
    }
}
