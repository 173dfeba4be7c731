namespace Distill.Core;

/// <summary>Validated option values as a registry entry reads them to build its option record (e.g. a loss term its
/// options from the loss section), in Core's own terms: Recipes implements it over a recipe's default-filled values,
/// so an entry binds its own keys and the binder needs no line per entry. Only validated values reach it: a key the
/// entry asks for is present with the type its <see cref="OptionSpec"/> says.</summary>
public interface IOptionValues
{
    /// <summary>The mapping under <paramref name="key"/>; null when the key is absent.</summary>
    IOptionValues? Section(string key);

    /// <summary>The mappings of the list under <paramref name="key"/>; empty when the key is absent.</summary>
    IReadOnlyList<IOptionValues> Sections(string key);

    double Number(string key);

    int Integer(string key);

    string Text(string key);

    bool Boolean(string key);
}
