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
        string key = "stages.2.quantize.activation_observer";
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

/// <summary>A shortened digits classifier run and a shortened tiny language-model run in one store, trained once.</summary>
public sealed class ClassifierAndLanguageModelRuns : IDisposable
{
    private readonly TempDir _store = new();

    public ClassifierAndLanguageModelRuns()
    {
        Classifier = Train("configs/digits/kd.yaml", "teacher.train.epochs=2", "stages[0].epochs=2");
        LanguageModel = Train("configs/text/lm-tiny.yaml", "teacher.train.epochs=1", "stages[0].epochs=1");
    }

    public string Store => _store.Path;
    public RunJsonView Classifier { get; }
    public RunJsonView LanguageModel { get; }

    private RunJsonView Train(string recipe, params string[] sets)
    {
        var result = CliProcess.Run(["train", recipe, "--store", Store, "--json", "--threads", "1", .. sets.SelectMany(s => new[] { "--set", s })],
            TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.ToString());
        return new RunJsonView(result.StdOut);
    }

    public void Dispose() => _store.Dispose();
}

/// <summary>`runs list`, `runs artifacts` and `experiments list` on real training runs, piped.</summary>
public sealed class RealRunsOutputTests(ClassifierAndLanguageModelRuns runs) : IClassFixture<ClassifierAndLanguageModelRuns>
{
    private CliResult Distill(params string[] args) => CliProcess.Run([.. args, "--store", runs.Store], TimeSpan.FromMinutes(2));

    [Fact]
    public void Artifacts_show_the_logs_size_on_disk_not_the_0_B_it_had_when_registered()
    {
        string log = Path.Combine(runs.Store, "artifacts", runs.Classifier.Id, "logs", "run.jsonl");
        long size = new FileInfo(log).Length;
        Assert.True(size > 0);

        var json = Distill("runs", "artifacts", runs.Classifier.Id, "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var entry = System.Text.Json.JsonDocument.Parse(json.StdOut).RootElement.EnumerateArray()
            .Single(a => a.GetProperty("path").GetString() == "logs/run.jsonl");
        Assert.Equal(size, entry.GetProperty("size").GetInt64());

        var table = Distill("runs", "artifacts", runs.Classifier.Id);
        Assert.Matches($@"(?m)^  logs/run\.jsonl +{Regex.Escape(Output.SummaryTable.Bytes(size))} *\r?$", table.StdOut);
    }

    [Fact]
    public void Experiments_count_top_level_runs_and_their_child_runs_apart()
    {
        var json = Distill("experiments", "list", "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var experiment = Assert.Single(System.Text.Json.JsonDocument.Parse(json.StdOut).RootElement.EnumerateArray());
        Assert.Equal(2, experiment.GetProperty("runs").GetInt32()); // what `runs list` lists
        Assert.Equal(4, experiment.GetProperty("child_runs").GetInt32()); // teacher and distil phases of each
        Assert.Equal(0, experiment.GetProperty("deleted_runs").GetInt32());

        var table = Distill("experiments", "list");
        Assert.Matches(@"(?m)^  default +\d{4}-\d\d-\d\d \d\d:\d\d +2 +4 +0 *\r?$", table.StdOut);
    }

    [Fact]
    public void Runs_list_shows_language_model_metrics_beside_classifier_accuracy()
    {
        var list = Distill("runs", "list");
        Assert.True(list.ExitCode == 0, list.ToString());
        string header = list.StdOut.Split('\n').First(l => l.Contains("start_time", StringComparison.Ordinal));
        Assert.Matches(@"teacher/test_acc +student/test_acc +teacher/val_bpb +student/val_bpb +teacher/perplexity +student/perplexity", header);

        var lm = runs.LanguageModel;
        string G6(string key) => lm.Metric(key).ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Matches($@"(?m)^  {lm.Id[..8]} +lm-tiny +FINISHED +\S+ \S+ +- +- +{Regex.Escape(G6("teacher/val_bpb"))} +{Regex.Escape(G6("student/val_bpb"))} " +
            $@"+{Regex.Escape(G6("teacher/perplexity"))} +{Regex.Escape(G6("student/perplexity"))} *\r?$", list.StdOut);

        // Only language models listed: only their columns.
        var lmOnly = Distill("runs", "list", "--filter", "attributes.name = 'lm-tiny'");
        Assert.DoesNotContain("test_acc", lmOnly.StdOut);
        Assert.Contains("student/val_bpb", lmOnly.StdOut);
    }
}
