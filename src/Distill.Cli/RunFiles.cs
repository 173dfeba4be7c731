using System.CommandLine;
using Distill.Core;
using Distill.Core.Tracking;

namespace Distill.Cli;

/// <summary>A file argument that may be a runs:/ reference to an earlier run's artifact (eval, export, calibrate, generate).</summary>
public static class RunFiles
{
    /// <summary><paramref name="pathOrReference"/> as it is, or the file a runs:/ reference names in the command's store.</summary>
    /// <param name="argument">The argument's name, for messages.</param>
    public static string Resolve(ParseResult parse, string pathOrReference, string argument)
    {
        if (!RunReference.IsReference(pathOrReference))
            return pathOrReference;
        try
        {
            var reference = RunReference.Parse(pathOrReference);
            string directory = GlobalOptions.StoreDirectory(parse);
            using var store = RunStore.OpenExisting(directory)
                ?? throw new RunNotFoundException($"no run store at {directory}; pass --store <folder> (or set DISTILL_STORE)");
            return store.Resolve(reference).Path;
        }
        catch (InvalidInputException e)
        {
            throw new InvalidInputException($"{argument} {pathOrReference}: {e.Message}", e);
        }
    }
}
