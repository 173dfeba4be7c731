using System.Text.RegularExpressions;
using Distill.Core.Tracking;

namespace Distill.Cli.Tests;

/// <summary>What `distill` prints for a person: tables at full width when piped, one format for fractions,
/// real artifact sizes, run counts and columns that fit the runs listed. Stores are written through
/// the store's API where the figures need to be exact, and by real training runs otherwise.</summary>
public sealed class ReadableOutputTests
{
    private static CliResult Distill(TempDir store, params string[] args) => CliProcess.Run([.. args, "--store", store.Path], TimeSpan.FromMinutes(2));

    private static void Ok(CliResult result) => Assert.True(result.ExitCode == 0, result.ToString());

    [Fact]
    public void Piped_tables_keep_their_full_width()
    {
        using var folder = new TempDir();
        string key = "stages[2].quantize.activation_observer";
        string value = string.Join('/', Enumerable.Range(0, 30).Select(i => $"segment{i}"));
        string id;
        using (var store = RunStore.Open(folder.Path))
        using (var run = store.StartRun("wide", "wide-run"))
        {
            run.LogParams(new Dictionary<string, string> { [key] = value });
            run.End(RunStatus.Finished);
            id = run.RunId;
        }

        // stdout is a pipe here, as in `distill runs show … | less`: no terminal width to fit.
        var show = Distill(folder, "runs", "show", id);
        Ok(show);
        Assert.Matches($@"(?m)^  {Regex.Escape(key)} +{Regex.Escape(value)} *\r?$", show.StdOut);
    }
}
