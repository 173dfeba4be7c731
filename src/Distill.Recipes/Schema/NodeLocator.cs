using YamlDotNet.RepresentationModel;

namespace Distill.Recipes.Schema;

/// <summary>Maps a YAML node to where it was written: the recipe file, or the --set argument that put it there.</summary>
internal sealed class NodeLocator(string file)
{
    private readonly Dictionary<YamlNode, Location> _fromCommandLine = new(ReferenceEqualityComparer.Instance);

    public string File { get; } = file;

    /// <summary>Records where a node that is not in the file (from --set, or a filled-in default) belongs.</summary>
    public void Place(YamlNode node, Location at) => _fromCommandLine[node] = at;

    public Location Of(YamlNode node) =>
        _fromCommandLine.TryGetValue(node, out var at) ? at : new Location(File, (int)node.Start.Line, (int)node.Start.Column);
}
