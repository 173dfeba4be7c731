using System.Globalization;

namespace Distill.Core.Tracking;

/// <summary>
/// A file of an earlier run, written MLflow's way: <c>runs:/&lt;run&gt;/&lt;artifact path&gt;</c>, e.g.
/// <c>runs:/3fa2/models/student.ckpt</c> or <c>runs:/fashion-mnist-kd/models/student.ckpt</c>.
/// &lt;run&gt; is a run id, a unique prefix of one, or a run name (the newest FINISHED top-level run of that
/// name); <see cref="RunStore.Resolve(RunReference)"/> says which, in one store.
/// </summary>
public sealed record RunReference(string Run, string ArtifactPath)
{
    public const string Scheme = "runs:/";

    /// <summary>Length of a full run id (a GUID as 32 lowercase hex digits).</summary>
    public const int FullIdLength = 32;

    public static bool IsReference(string text) => text is not null && text.StartsWith(Scheme, StringComparison.Ordinal);

    /// <summary>The reference in <paramref name="text"/>; <see cref="InvalidInputException"/> saying what is wrong otherwise.</summary>
    public static RunReference Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!IsReference(text))
            throw new InvalidInputException($"'{TrackingNames.Printable(text)}' is not a run reference; write {Scheme}<run id, id prefix or run name>/<artifact path>");
        string rest = text[Scheme.Length..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string run = slash < 0 ? rest : rest[..slash];
        string artifact = slash < 0 ? "" : rest[(slash + 1)..];
        if (run.Length == 0 || artifact.Length == 0)
            throw new InvalidInputException(
                $"'{TrackingNames.Printable(text)}' needs a run and an artifact path: {Scheme}<run id, id prefix or run name>/<artifact path>, e.g. {Scheme}fashion-mnist-kd/models/student.ckpt");
        if (!PlainName.IsValid(run))
            throw new InvalidInputException($"'{TrackingNames.Printable(run)}' in '{TrackingNames.Printable(text)}' is neither a run id nor a run name ({PlainName.Rule})");
        TrackingNames.NormalizeArtifactPath(artifact);
        return new RunReference(run, artifact);
    }

    /// <summary>Hex digits only: the run part may be (the start of) a run id.</summary>
    public bool MayBeId => Run.Length <= FullIdLength && Run.All(char.IsAsciiHexDigit);

    /// <summary>A full id: the run part means that id, never a name.</summary>
    public bool IsFullId => Run.Length == FullIdLength && MayBeId;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Scheme}{Run}/{ArtifactPath}");
}

/// <summary>A reference found in a store: the run it names and the full path of the artifact.</summary>
public sealed record ResolvedReference(RunRecord Run, string Path);

/// <summary>A reference that names no run of the store (not an ambiguous or broken one): a recipe whose earlier run
/// has not been trained yet.</summary>
public sealed class RunNotFoundException(string message) : InvalidInputException(message);
