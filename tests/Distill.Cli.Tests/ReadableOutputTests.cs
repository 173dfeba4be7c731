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

    /// <summary>Two finished runs "small" and "large" in experiment "fractions", with exact metric values.</summary>
    private static (string Small, string Large) FractionRuns(TempDir folder)
    {
        using var store = RunStore.Open(folder.Path);
        string Run(string name, double accuracy, double parameters)
        {
            using var run = store.StartRun("fractions", name);
            run.LogMetric("student/test_acc", accuracy, 0);
            run.LogMetric("student/params", parameters, 0);
            run.LogMetric("student/sparsity", 0.8, 0);
            run.LogMetric("teacher/test_acc", 0.9725, 0);
            run.End(RunStatus.Finished);
            return run.RunId;
        }
        return (Run("small", 0.938719, 5386), Run("large", 0.95, 20000));
    }

    [Fact]
    public void Fractions_read_as_percentages_in_list_show_compare_and_pareto_and_stay_raw_in_json_and_csv()
    {
        using var folder = new TempDir();
        var (small, large) = FractionRuns(folder);

        // The summary prints 93.87 % (P2): runs list, show, compare and pareto print the same.
        var list = Distill(folder, "runs", "list");
        Ok(list);
        Assert.Contains("93.87 %", list.StdOut);
        Assert.Contains("97.25 %", list.StdOut);
        Assert.DoesNotContain("0.938719", list.StdOut);

        var show = Distill(folder, "runs", "show", small);
        Ok(show);
        Assert.Matches(@"(?m)^  student/test_acc +93\.87 % *\r?$", show.StdOut);
        Assert.Matches(@"(?m)^  student/sparsity +80\.00 % *\r?$", show.StdOut);
        Assert.Matches(@"(?m)^  student/params +5386 *\r?$", show.StdOut);

        var compare = Distill(folder, "runs", "compare", small, large);
        Ok(compare);
        Assert.Matches(@"(?m)^  student/test_acc +93\.87 % +95\.00 % *\r?$", compare.StdOut);
        Assert.Matches(@"(?m)^  student/params +5386 +20000 *\r?$", compare.StdOut);

        var pareto = Distill(folder, "runs", "pareto", "--x", "student/params", "--y", "student/test_acc", "--out", folder.File("pareto.png"));
        Ok(pareto);
        Assert.Matches(@"small .* 5386 +93\.87 %", pareto.StdOut);

        // Machine-readable output keeps the raw numbers.
        Assert.Contains("0.938719", Distill(folder, "runs", "list", "--json").StdOut);
        Assert.Contains("0.938719", Distill(folder, "runs", "show", small, "--json").StdOut);
        Assert.Contains("metric,student/test_acc,0.938719,0.95", Distill(folder, "runs", "compare", small, large, "--csv").StdOut);
    }
}
