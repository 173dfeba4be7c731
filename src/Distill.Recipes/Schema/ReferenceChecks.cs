using System.Text.RegularExpressions;
using Distill.Core;
using Distill.Core.Tracking;

namespace Distill.Recipes.Schema;

/// <summary>Replaces each <c>runs:/</c> checkpoint reference (student, teacher, members of a teacher ensemble) by the file it names in the run store, so that the plan, the
/// run's params and its recorded recipe name that file, whichever run is the newest of its name later.</summary>
internal static partial class ReferenceChecks
{
    private static readonly string[] Owners = ["student", "teacher"];

    public static void Run(MapValue root, RunReferenceLookup? lookup, string recipeFolder, List<RecipeError> errors)
    {
        if (lookup is null)
            return;
        var found = new List<(MapValue Owner, string Key, RunReference Reference, Location At)>();
        foreach (string owner in Owners)
        {
            if (root.Map(owner) is { } map && map.Get("checkpoint") is ScalarValue { Raw: string text } value && RunReference.IsReference(text))
                found.Add((map, $"{owner}.checkpoint", RunReference.Parse(text), value.At));
        }
        var members = root.Map("teacher")?.List("ensemble") ?? [];
        for (int i = 0; i < members.Count; i++)
        {
            if (members[i] is MapValue member && member.Get("checkpoint") is ScalarValue { Raw: string text } value && RunReference.IsReference(text))
                found.Add((member, $"teacher.ensemble[{i}].checkpoint", RunReference.Parse(text), value.At));
        }
        if (found.Count == 0)
            return;

        string directory = lookup.StoreDirectory(root.Map("tracking")?.Str("store"));
        // Not created when absent: a store with no runs has none to refer to either.
        using var store = RunStore.OpenExisting(directory);
        foreach (var (owner, key, reference, at) in found.OrderBy(f => f.At.Line).ThenBy(f => f.At.Column))
        {
            try
            {
                var resolved = store?.Resolve(reference)
                    ?? throw new RunNotFoundException($"no run {reference.Run} in store {directory}: there is no store there yet");
                owner.Replace("checkpoint", new ScalarValue(at, resolved.Path));
                lookup.Resolved.Add((key, reference, resolved));
            }
            catch (RunNotFoundException e)
            {
                var problem = at.Error($"{key}: {RunFirst(reference, recipeFolder)}{e.Message}");
                (lookup.MissingRunIsNote ? lookup.Notes : errors).Add(problem);
            }
            catch (InvalidInputException e)
            {
                errors.Add(at.Error($"{key}: {e.Message}"));
            }
        }
    }

    /// <summary>"run configs/x/kd.yaml first: " when a recipe beside this one, or in a folder beside it, has the
    /// referenced run's name.</summary>
    private static string RunFirst(RunReference reference, string recipeFolder)
    {
        if (RecipeNamed(reference.Run, recipeFolder) is { } recipe)
            return $"run {Shown(recipe)} first: ";
        return reference.MayBeId ? "" : $"train the recipe named {reference.Run} first: ";
    }

    private static string? RecipeNamed(string name, string folder)
    {
        try
        {
            var besideThenBelow = Directory.EnumerateFiles(folder, "*.yaml").Order(StringComparer.Ordinal)
                .Concat(Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal)
                    .SelectMany(sub => Directory.EnumerateFiles(sub, "*.yaml").Order(StringComparer.Ordinal)));
            foreach (string file in besideThenBelow)
            {
                if (new FileInfo(file).Length > RecipeLimits.FileBytes.Value)
                    continue;
                if (NameLine().Match(File.ReadAllText(file)) is { Success: true } match && match.Groups[1].Value.Trim('"', '\'') == name)
                    return file;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    /// <summary>Relative to the working folder when the file is under it, as a user would type it.</summary>
    private static string Shown(string file)
    {
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, file);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? file : relative;
    }

    [GeneratedRegex(@"^name:[ \t]*(\S+)[ \t]*(?:#.*)?$", RegexOptions.Multiline)]
    private static partial Regex NameLine();
}
