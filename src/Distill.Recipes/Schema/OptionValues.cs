using Distill.Core;

namespace Distill.Recipes.Schema;

/// <summary>A validated, default-filled mapping as Core's registry entries read their options (e.g. a loss term its keys
/// of the loss section). Only called after validation, so a key an entry asks for is there with its schema's type.</summary>
internal sealed class OptionValues(MapValue map) : IOptionValues
{
    public IOptionValues? Section(string key) => map.Map(key) is { } section ? new OptionValues(section) : null;

    public IReadOnlyList<IOptionValues> Sections(string key) => [.. map.List(key).Cast<MapValue>().Select(item => new OptionValues(item))];

    public double Number(string key) => (double)Raw(key);

    public int Integer(string key) => checked((int)(long)Raw(key));

    public string Text(string key) => (string)Raw(key);

    public bool Boolean(string key) => (bool)Raw(key);

    private object Raw(string key) => map.Raw(key) ?? throw new InvalidOperationException($"validated recipe lacks key '{key}'");
}
