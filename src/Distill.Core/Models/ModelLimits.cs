using System.Globalization;

namespace Distill.Core.Models;

/// <summary>The largest model Distill builds. The count is computed from a model's sizes before any layer is
/// allocated, so that a recipe or checkpoint asking for a huge model fails at once instead of after minutes of
/// weight initialisation (a 100-million-parameter layer alone takes about a second to initialise).</summary>
public static class ModelLimits
{
    public const long MaxParameters = 100_000_000;

    /// <summary>Throws <see cref="InvalidInputException"/> when <paramref name="parameters"/> is above the ceiling.</summary>
    /// <param name="what">The model, e.g. "a cnn with channels [8, 16] on input [1, 28, 28] with 10 classes".</param>
    public static void Check(long parameters, string what)
    {
        if (parameters > MaxParameters)
            throw new InvalidInputException(string.Create(CultureInfo.InvariantCulture,
                $"{what} has {parameters:N0} parameters; Distill builds models of at most {MaxParameters:N0} (docs/recipes.md, Limits)"));
    }
}
