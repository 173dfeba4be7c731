using System.Text.RegularExpressions;

namespace Distill.Core;

/// <summary>
/// A name that becomes part of file names, artifact paths and metric keys: a target profile's
/// (exports/&lt;target&gt;/, export/&lt;target&gt;/size_bytes), a stage's (pruning/sparsity-&lt;stage&gt;.csv,
/// stage.&lt;stage&gt;.status) and a recipe run's. Letters, digits, '-', '_' and '.', but not '.' or '..',
/// so that it can never leave the folder it is put in nor carry a separator or a control character.
/// </summary>
public static partial class PlainName
{
    /// <summary>The length limit keeps file names (≤ 255 bytes) and MLflow keys (≤ 250 characters) built from a name within theirs.</summary>
    public const string Rule = "letters, digits, '-', '_' and '.' only (not '.' or '..'), at most 100 characters";

    // \z, not $: '$' also matches before a final newline.
    [GeneratedRegex(@"\A(?!\.\.?\z)[A-Za-z0-9._-]{1,100}\z")]
    public static partial Regex Pattern();

    public static bool IsValid(string name) => name is not null && Pattern().IsMatch(name);
}
