using System.Text.Json;

namespace Distill.Cli.Tests;

/// <summary>The machine-readable run object that `train --json` and `runs show --json` print.</summary>
public sealed class RunJsonView
{
    private readonly JsonElement _root;

    public RunJsonView(string json)
    {
        _root = JsonDocument.Parse(json).RootElement;
    }

    public string Id => _root.GetProperty("id").GetString()!;
    public string Name => _root.GetProperty("name").GetString()!;
    public string Status => _root.GetProperty("status").GetString()!;
    public double Metric(string key) => _root.GetProperty("metrics").GetProperty(key).GetDouble();
    public bool HasMetric(string key) => _root.GetProperty("metrics").TryGetProperty(key, out _);
    public string Param(string key) => _root.GetProperty("params").GetProperty(key).GetString()!;
    public string? Tag(string key) => _root.GetProperty("tags").TryGetProperty(key, out var v) ? v.GetString() : null;
    public IReadOnlyList<string> Artifacts => _root.GetProperty("artifacts").EnumerateArray().Select(a => a.GetString()!).ToList();
    public IReadOnlyDictionary<string, double> Metrics =>
        _root.GetProperty("metrics").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
}
