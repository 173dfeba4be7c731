using System.Text.Json;

namespace Distill.Cli.Tests;

/// <summary>Two real digits runs (an MLP student of 32 and of 16 hidden units), trained once for the class.</summary>
public sealed class TwoDigitsRuns : IDisposable
{
    private readonly TempDir _store = new();

    public TwoDigitsRuns()
    {
        Wide = Train("32");
        Narrow = Train("16");
    }

    public string Store => _store.Path;
    public RunJsonView Wide { get; }
    public RunJsonView Narrow { get; }

    private RunJsonView Train(string hidden)
    {
        var result = CliProcess.Run("train", "configs/digits/kd.yaml", "--store", Store, "--json",
            "--set", "teacher.train.epochs=2", "--set", "stages[0].epochs=3", "--set", $"student.model.hidden=[{hidden}]");
        Assert.True(result.ExitCode == 0, result.ToString());
        return new RunJsonView(result.StdOut);
    }

    public void Dispose() => _store.Dispose();
}

/// <summary>`distill runs list|show|compare|plot|pareto|artifacts|download|delete|restore` on real runs.</summary>
public sealed class RunsAnalysisTests(TwoDigitsRuns runs) : IClassFixture<TwoDigitsRuns>
{
    private CliResult Distill(params string[] args) => CliProcess.Run([.. args, "--store", runs.Store], TimeSpan.FromMinutes(2));

    private static void Ok(CliResult result) => Assert.True(result.ExitCode == 0, result.ToString());

    private static void BadInput(CliResult result) => Assert.True(result.ExitCode == 2, result.ToString());

    private static List<string> Ids(CliResult result) =>
        JsonDocument.Parse(result.StdOut).RootElement.EnumerateArray().Select(r => r.GetProperty("id").GetString()!).ToList();

    [Fact]
    public void Training_run_has_one_child_run_per_phase_shown_as_a_tree()
    {
        var all = Distill("runs", "list", "--all", "--json");
        Ok(all);
        var children = JsonDocument.Parse(all.StdOut).RootElement.EnumerateArray()
            .Where(r => r.GetProperty("parent_run_id").GetString() == runs.Wide.Id).ToList();
        Assert.Equal(["distil", "teacher"], children.Select(c => c.GetProperty("name").GetString()).Order());
        var teacher = children.Single(c => c.GetProperty("name").GetString() == "teacher");
        Assert.Equal("FINISHED", teacher.GetProperty("status").GetString());
        Assert.True(teacher.GetProperty("metrics").TryGetProperty("teacher/val/acc", out _));
        Assert.Equal("2", teacher.GetProperty("params").GetProperty("teacher.train.epochs").GetString());
        var distil = children.Single(c => c.GetProperty("name").GetString() == "distil");
        Assert.Equal("0.8", distil.GetProperty("params").GetProperty("stages.0.loss.kd.alpha").GetString());
        Assert.Equal(runs.Wide.Metric("val/acc"), distil.GetProperty("metrics").GetProperty("val/acc").GetDouble());

        // Top level only by default.
        var top = Distill("runs", "list", "--json");
        Ok(top);
        Assert.Equal(new[] { runs.Wide.Id, runs.Narrow.Id }.Order(), Ids(top).Order());

        var show = Distill("runs", "show", runs.Wide.Id[..8]);
        Ok(show);
        Assert.Contains("runs:", show.StdOut);
        Assert.Matches(@"├── teacher  [0-9a-f]{8}  FINISHED", show.StdOut);
        Assert.Matches(@"└── distil  [0-9a-f]{8}  FINISHED", show.StdOut);
    }

    [Fact]
    public void Every_training_run_saves_its_curves_as_a_png_artifact()
    {
        Assert.Contains("plots/curves.png", runs.Wide.Artifacts);
        var artifacts = Distill("runs", "artifacts", runs.Wide.Id[..8]);
        Ok(artifacts);
        Assert.Contains("plots/curves.png", artifacts.StdOut);
        var bytes = File.ReadAllBytes(Path.Combine(runs.Store, "artifacts", runs.Wide.Id, "plots", "curves.png"));
        AssertPng(bytes);
    }

    [Fact]
    public void List_filters_and_sorts()
    {
        var sorted = Distill("runs", "list", "--sort", "-params.student.model.hidden", "--json");
        Ok(sorted);
        Assert.Equal([runs.Wide.Id, runs.Narrow.Id], Ids(sorted));
        var ascending = Distill("runs", "list", "--sort", "params.student.model.hidden", "--json");
        Assert.Equal([runs.Narrow.Id, runs.Wide.Id], Ids(ascending));

        var filtered = Distill("runs", "list", "--filter", "params.student.model.hidden = '[16]' and metrics.student/test_acc > 0.1", "--json");
        Ok(filtered);
        Assert.Equal([runs.Narrow.Id], Ids(filtered));

        var none = Distill("runs", "list", "--filter", "metrics.student/test_acc > 1.5", "--json");
        Ok(none);
        Assert.Empty(Ids(none));

        var table = Distill("runs", "list", "--filter", "attributes.name like 'digits%'", "--sort", "-metrics.student/params");
        Ok(table);
        Assert.Contains("student/params", table.StdOut);
        Assert.Contains("2 run(s)", table.StdOut);
    }

    [Fact]
    public void A_filter_with_a_syntax_error_points_at_the_column_and_exits_2()
    {
        const string filter = "metrics.student/test_acc > and params.x = 'y'";
        var result = Distill("runs", "list", "--filter", filter);
        BadInput(result);
        Assert.Contains("--filter: column 28: expected a value after '>'", result.StdErr);
        Assert.Contains("  " + filter + "\n" + new string(' ', 29) + "^", result.StdErr.Replace("\r\n", "\n"));
        Assert.Equal("", result.StdOut);
    }

    [Fact]
    public void Compare_prints_differing_params_and_final_metrics_as_table_csv_and_json()
    {
        var table = Distill("runs", "compare", runs.Wide.Id[..8], runs.Narrow.Id[..8]);
        Ok(table);
        Assert.Contains("student.model.hidden", table.StdOut);
        Assert.DoesNotContain("stages.0.loss.kd.alpha", table.StdOut); // equal in both runs
        Assert.Contains("student/test_acc", table.StdOut);

        var csv = Distill("runs", "compare", runs.Wide.Id, runs.Narrow.Id, "--csv");
        Ok(csv);
        var lines = csv.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal($"kind,key,digits-kd {runs.Wide.Id[..8]},digits-kd {runs.Narrow.Id[..8]}", lines[0]);
        Assert.Contains("param,student.model.hidden,[32],[16]", lines);
        Assert.All(lines.Skip(1).Where(l => l.StartsWith("param,", StringComparison.Ordinal)),
            l => Assert.StartsWith("param,student.model.hidden,", l));

        var json = Distill("runs", "compare", runs.Wide.Id, runs.Narrow.Id, "--json");
        Ok(json);
        var root = JsonDocument.Parse(json.StdOut).RootElement;
        Assert.Equal(runs.Narrow.Metric("student/test_acc"),
            root.GetProperty("metrics").GetProperty("student/test_acc").GetProperty(runs.Narrow.Id).GetDouble());
        Assert.Equal("[32]", root.GetProperty("params").GetProperty("student.model.hidden").GetProperty(runs.Wide.Id).GetString());

        BadInput(Distill("runs", "compare", runs.Wide.Id));
        var unknown = Distill("runs", "compare", runs.Wide.Id, "ffffffff");
        BadInput(unknown);
        Assert.Contains("no run 'ffffffff'", unknown.StdErr);
    }

    [Fact]
    public void Plot_writes_a_png_of_the_curves_and_names_an_unknown_metric()
    {
        using var output = new TempDir();
        string png = output.File("curves.png");
        var result = Distill("runs", "plot", runs.Wide.Id[..8], runs.Narrow.Id[..8], "--metric", "train/loss", "--metric", "val/acc", "--out", png);
        Ok(result);
        AssertPng(File.ReadAllBytes(png));

        var unknown = Distill("runs", "plot", runs.Wide.Id, "--metric", "val/accuracy", "--out", output.File("bad.png"));
        BadInput(unknown);
        Assert.Contains("no metric 'val/accuracy'", unknown.StdErr);
        Assert.False(File.Exists(output.File("bad.png")));
    }

    [Fact]
    public void Pareto_marks_the_frontier_of_size_against_accuracy()
    {
        using var output = new TempDir();
        string png = output.File("pareto.png");
        var result = Distill("runs", "pareto", "--x", "*/params", "--y", "*/test_acc", "--out", png, "--json");
        Ok(result);
        AssertPng(File.ReadAllBytes(png));
        var points = JsonDocument.Parse(result.StdOut).RootElement.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal(4, points.Count); // teacher and student of each run
        // Both runs are named digits-kd: their labels carry the short run id.
        Assert.Contains(points, p => p.GetProperty("label").GetString() == $"digits-kd/student {runs.Narrow.Id[..8]}"
            && p.GetProperty("run_id").GetString() == runs.Narrow.Id);

        // The frontier is exactly the points no other point beats on both size and accuracy; of equal points (both runs
        // train the same teacher) only the first.
        var xy = points.Select(p => (X: p.GetProperty("x").GetDouble(), Y: p.GetProperty("y").GetDouble(), F: p.GetProperty("frontier").GetBoolean())).ToList();
        for (int i = 0; i < xy.Count; i++)
        {
            var p = xy[i];
            bool dominated = xy.Where((q, j) => j != i && q.X <= p.X && q.Y >= p.Y && (q.X < p.X || q.Y > p.Y || j < i)).Any();
            Assert.Equal(!dominated, p.F);
        }
        var smallest = xy.MinBy(p => p.X);
        Assert.True(smallest.F, "the smallest model is always on the frontier");

        var table = Distill("runs", "pareto", "--x", "*/params", "--y", "*/test_acc", "--runs", runs.Wide.Id[..8], "--out", png);
        Ok(table);
        Assert.Contains("digits-kd/student", table.StdOut);
        Assert.Matches(@"\d of 2 point\(s\) on the frontier", table.StdOut);
    }

    [Fact]
    public void Summary_groups_runs_and_gives_mean_std_and_change_against_a_baseline()
    {
        double wide = runs.Wide.Metric("student/test_acc"), narrow = runs.Narrow.Metric("student/test_acc");
        // Both runs are named digits-kd: one group of two, mean and sample std (n − 1) of their accuracies.
        var byName = Distill("runs", "summary", "--metrics", "student/test_acc", "--json");
        Ok(byName);
        var group = Assert.Single(JsonDocument.Parse(byName.StdOut).RootElement.EnumerateArray());
        Assert.Equal("digits-kd", group.GetProperty("group").GetString());
        Assert.Equal([runs.Wide.Id, runs.Narrow.Id], group.GetProperty("runs").EnumerateArray().Select(r => r.GetString()));
        var acc = group.GetProperty("metrics").GetProperty("student/test_acc");
        Assert.Equal((wide + narrow) / 2, acc.GetProperty("mean").GetDouble(), 12);
        Assert.Equal(Math.Abs(wide - narrow) / Math.Sqrt(2), acc.GetProperty("std").GetDouble(), 12);

        // Grouped by the hidden width with 16 as the baseline: the 32 row carries the change in points.
        var table = Distill("runs", "summary", "--by", "params.student.model.hidden", "--baseline", "[16]");
        Ok(table);
        string change = ((wide - narrow) * 100).ToString("+0.00;-0.00;0.00", System.Globalization.CultureInfo.InvariantCulture) + " pt";
        Assert.Contains(change, table.StdOut);
        Assert.Contains("2 group(s) of 2 run(s)", table.StdOut);

        var bad = Distill("runs", "summary", "--by", "params.student.model.hidden", "--baseline", "[17]");
        BadInput(bad);
        Assert.Contains("--baseline '[17]' is not a group of params.student.model.hidden (did you mean '[16]'?); the groups are [32], [16]", bad.StdErr);
    }

    [Fact]
    public void Download_copies_an_artifact_and_refuses_traversal()
    {
        using var output = new TempDir();
        var result = Distill("runs", "download", runs.Wide.Id[..8], "models/student.ckpt", "--out", output.Path);
        Ok(result);
        Assert.Equal(File.ReadAllBytes(Path.Combine(runs.Store, "artifacts", runs.Wide.Id, "models", "student.ckpt")),
            File.ReadAllBytes(Path.Combine(output.Path, "models", "student.ckpt")));

        var traversal = Distill("runs", "download", runs.Wide.Id, "../../distill.db", "--out", output.Path);
        BadInput(traversal);
        Assert.Contains("'..' segment", traversal.StdErr);
        Assert.False(File.Exists(Path.Combine(output.Path, "distill.db")));
    }

    [Fact]
    public void Delete_hides_a_run_from_list_and_restore_brings_it_back()
    {
        // Deletes and restores within the test, so the shared store is left as it was.
        var deleted = Distill("runs", "delete", runs.Narrow.Id[..8]);
        try
        {
            Ok(deleted);
            Assert.Contains("and 2 child run(s)", deleted.StdOut);
            Assert.Equal([runs.Wide.Id], Ids(Distill("runs", "list", "--json")));
            Assert.Equal(3, Ids(Distill("runs", "list", "--deleted", "--all", "--json")).Count);
            BadInput(Distill("runs", "delete", runs.Narrow.Id));
        }
        finally
        {
            Ok(Distill("runs", "restore", runs.Narrow.Id[..8]));
        }
        Assert.Equal(2, Ids(Distill("runs", "list", "--json")).Count);
        Assert.Equal(6, Ids(Distill("runs", "list", "--all", "--json")).Count);
    }

    private static void AssertPng(byte[] bytes)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.True(bytes.Length > 10_000, $"{bytes.Length} bytes");
    }
}

/// <summary>Experiments and a bad store, without training.</summary>
public sealed class ExperimentsCommandTests
{
    [Fact]
    public void Experiments_create_rename_and_list()
    {
        using var store = new TempDir();
        Assert.Equal(0, CliProcess.Run("experiments", "create", "sweep", "--store", store.Path).ExitCode);
        Assert.Equal(0, CliProcess.Run("experiments", "create", "other", "--store", store.Path).ExitCode);
        var again = CliProcess.Run("experiments", "create", "sweep", "--store", store.Path);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("already exists", again.StdErr);

        var renamed = CliProcess.Run("experiments", "rename", "sweep", "sweep-2026", "--store", store.Path);
        Assert.True(renamed.ExitCode == 0, renamed.ToString());
        var clash = CliProcess.Run("experiments", "rename", "other", "sweep-2026", "--store", store.Path);
        Assert.Equal(2, clash.ExitCode);

        var list = CliProcess.Run("experiments", "list", "--store", store.Path, "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        var names = JsonDocument.Parse(list.StdOut).RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToList();
        Assert.Equal(["other", "sweep-2026"], names);
    }

    [Theory]
    [InlineData("runs", "list")]
    [InlineData("experiments", "list")]
    public void A_foreign_sqlite_file_or_garbage_as_the_store_exits_2_and_is_left_unchanged(string group, string verb)
    {
        string[] command = [group, verb];
        using var store = new TempDir();
        string database = store.File("distill.db");
        File.WriteAllText(database, "this is not a database, just text that happens to be here");
        var before = File.ReadAllBytes(database);
        var result = CliProcess.Run([.. command, "--store", store.Path], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("not a SQLite database", result.StdErr);
        Assert.Equal(before, File.ReadAllBytes(database));

        using var foreign = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={store.File("foreign.db")};Pooling=False");
        foreign.Open();
        using (var create = foreign.CreateCommand())
        {
            create.CommandText = "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);";
            create.ExecuteNonQuery();
        }
        foreign.Close();
        File.Move(store.File("foreign.db"), database, overwrite: true);
        before = File.ReadAllBytes(database);
        result = CliProcess.Run([.. command, "--store", store.Path], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("not a Distill run store", result.StdErr);
        Assert.Equal(before, File.ReadAllBytes(database));
    }
}
