using Distill.Core.Tracking;

namespace Distill.Recipes;

/// <summary>
/// How the <c>runs:/</c> references of a recipe (student.checkpoint, teacher.checkpoint) are looked up: in which run
/// store, and whether a run that is not there is an error (train) or a note (recipes validate). A recipe loaded without
/// one keeps its references as written (recipes show).
/// </summary>
public sealed class RunReferenceLookup
{
    /// <summary>The store's folder given the recipe's tracking.store (a full path; null when the recipe sets none). The CLI
    /// passes the one store resolution every command uses (--store, tracking.store, $DISTILL_STORE, ./distill-runs).</summary>
    public required Func<string?, string> StoreDirectory { get; init; }

    /// <summary>recipes validate: a referenced run that is not in the store (yet) is a note, not an error. Either way no
    /// store is created to look.</summary>
    public bool MissingRunIsNote { get; init; }

    /// <summary>References whose run is not in the store, when <see cref="MissingRunIsNote"/>.</summary>
    public List<RecipeError> Notes { get; } = [];

    /// <summary>The references found: the key, what the recipe says, and the run and file it means.</summary>
    public List<(string Key, RunReference Reference, ResolvedReference Resolved)> Resolved { get; } = [];
}
