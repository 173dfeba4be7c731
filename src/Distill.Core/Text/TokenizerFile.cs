using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Core.Text;

/// <summary>Saves a tokenizer next to a model as a small JSON file: {"kind":"byte"} or
/// {"kind":"char","symbols":["\n"," ",...]}.</summary>
public static class TokenizerFile
{
    public static void Save(ITokenizer tokenizer, string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(ToJson(tokenizer));
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>The file's content, e.g. to store the tokenizer inside a model checkpoint.</summary>
    public static string ToJson(ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var json = new JsonObject { ["kind"] = tokenizer.Kind };
        if (tokenizer is CharTokenizer chars)
        {
            json["symbols"] = new JsonArray(chars.Symbols.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
        }
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }

    public static ITokenizer Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidInputException($"{path}: tokenizer file not found");
        }
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Reads <see cref="ToJson"/>'s output; <paramref name="path"/> names the source in errors.</summary>
    public static ITokenizer Parse(string text, string path)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not a tokenizer file: {e.Message}", e);
        }
        string? kind = root?["kind"]?.GetValueKind() == JsonValueKind.String ? root["kind"]!.GetValue<string>() : null;
        switch (kind)
        {
            case ByteTokenizer.KindName:
                return ByteTokenizer.Instance;
            case CharTokenizer.KindName:
                if (root!["symbols"] is not JsonArray array
                    || array.Any(s => s?.GetValueKind() != JsonValueKind.String))
                {
                    throw new InvalidInputException($"{path}: a char tokenizer needs \"symbols\", an array of strings");
                }
                try
                {
                    return new CharTokenizer(array.Select(s => s!.GetValue<string>()).ToList());
                }
                catch (ArgumentException e)
                {
                    throw new InvalidInputException($"{path}: {e.Message}", e);
                }
            default:
                throw new InvalidInputException($"{path}: \"kind\" must be \"byte\" or \"char\", got {(kind is null ? "nothing" : $"\"{kind}\"")}");
        }
    }
}
