using System.Text.RegularExpressions;

namespace Distill.Cli.Tests;

/// <summary>Recipes and commands name earlier runs (runs:/&lt;name, id or prefix&gt;/&lt;artifact&gt;) instead of store paths,
/// looked up in the store every command resolves the same way.</summary>
public sealed class RunReferenceCliTests
{
    private static string Digits => Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz");

    /// <summary>configs/digits/kd.yaml's data, teacher and student, continued for one epoch at a learning rate too small to
    /// move any weight: the student's test accuracy is the one of the weights it starts from.</summary>
    private static string NextRecipe(string studentCheckpoint) => $$"""
        name: digits-next
        seed: 7
        data: { format: csv, train_csv: {{Digits}}, header: false, scale: 16, test_fraction: 0.2, validation_fraction: 0.1, normalize: standard }
        teacher:
          model: { arch: mlp, hidden: [256, 128] }
          checkpoint: runs:/digits-kd/models/teacher.ckpt
        student:
          model: { arch: mlp, hidden: [32] }
          checkpoint: {{studentCheckpoint}}
        stages:
          - name: more
            epochs: 1
            batch_size: 64
            optimizer: { name: adam, lr: 1e-12 }
            loss: { kd: { temperature: 3, alpha: 0.8 } }
        """;

    [Fact]
    public void A_recipe_naming_a_kd_run_by_name_or_id_prefix_trains_from_its_weights()
    {
        using var dir = new TempDir();
        string store = dir.File("store");
        var kd = CliProcess.Run("train", "configs/digits/kd.yaml", "--store", store, "--json", "--threads", "1");
        Assert.True(kd.ExitCode == 0, kd.ToString());
        var kdRun = new RunJsonView(kd.StdOut);
        string studentFile = Path.Combine(store, "artifacts", kdRun.Id, "models", "student.ckpt");

        double TrainFrom(string checkpoint, params string[] set)
        {
            string recipe = dir.File($"next-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(recipe, NextRecipe(checkpoint));
            var result = CliProcess.Run(["train", recipe, "--store", store, "--json", "--threads", "1", .. set.SelectMany(s => new[] { "--set", s })],
                TimeSpan.FromMinutes(5));
            Assert.True(result.ExitCode == 0, result.ToString());
            var run = new RunJsonView(result.StdOut);
            // Recorded as the file, so that resuming or exporting this run does not depend on which run is newest later.
            Assert.Equal(studentFile, run.Param("student.checkpoint"));
            string recorded = File.ReadAllText(Path.Combine(store, "artifacts", run.Id, "recipe.yaml"));
            Assert.Contains($"checkpoint: {studentFile}\n", recorded, StringComparison.Ordinal);
            Assert.DoesNotContain("runs:/", recorded, StringComparison.Ordinal);
            return run.Metric("student/test_acc");
        }

        double byName = TrainFrom("runs:/digits-kd/models/student.ckpt");
        double byPrefix = TrainFrom($"runs:/{kdRun.Id[..8]}/models/student.ckpt");
        double byPath = TrainFrom("runs:/digits-kd/models/student.ckpt", $"student.checkpoint={studentFile}");
        Assert.Equal(kdRun.Metric("student/test_acc"), byName);
        Assert.Equal(byPath, byName);
        Assert.Equal(byPath, byPrefix);

        // eval and export take the same references, in the store of --store.
        var eval = CliProcess.Run("eval", "runs:/digits-kd/models/student.ckpt", "--data", "configs/digits/kd.yaml", "--store", store, "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        var evalPath = CliProcess.Run("eval", studentFile, "--data", "configs/digits/kd.yaml", "--json");
        Assert.Equal(Accuracy(evalPath.StdOut), Accuracy(eval.StdOut));
        var export = CliProcess.Run("export", $"runs:/{kdRun.Id[..8]}/models/student.ckpt", "--target", "onnx-fp32", "--data", "configs/digits/kd.yaml",
            "--out", dir.File("onnx"), "--store", store);
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.True(File.Exists(Path.Combine(dir.File("onnx"), "model.onnx")));
        var missing = CliProcess.Run("eval", "runs:/digits-nope/models/student.ckpt", "--data", "configs/digits/kd.yaml", "--store", store);
        Assert.True(missing.ExitCode == 2, missing.ToString());
        Assert.Contains($"checkpoint runs:/digits-nope/models/student.ckpt: no FINISHED run named digits-nope in store {store}", missing.StdErr);
    }

    private static string Accuracy(string json) =>
        System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("accuracy").GetRawText();

    [Fact]
    public void An_ambiguous_prefix_is_refused_at_the_key_and_line()
    {
        using var dir = new TempDir();
        string store = dir.File("store");
        // Runs until two ids share their first digit (at most 17); `runs:/<digit>/…` then means either.
        var ids = new List<string>();
        using (var runs = Core.Tracking.RunStore.Open(store))
        {
            while (ids.GroupBy(id => id[0]).All(g => g.Count() < 2))
            {
                using var tracker = runs.StartRun("default", "r");
                tracker.End(Core.Tracking.RunStatus.Finished);
                ids.Add(tracker.RunId);
            }
        }
        char digit = ids.GroupBy(id => id[0]).First(g => g.Count() == 2).Key;
        string recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, NextRecipe($"runs:/{digit}/models/student.ckpt").Replace("runs:/digits-kd/models/teacher.ckpt", Digits, StringComparison.Ordinal));
        var train = CliProcess.Run("train", recipe, "--store", store);
        Assert.True(train.ExitCode == 2, train.ToString());
        Assert.Contains($"{recipe}:9:15: student.checkpoint: run id prefix '{digit}' is ambiguous", train.StdErr);
    }

    private const string ImageFolderRecipe = "configs/zoo/image-folder.yaml";

    [Fact]
    public void Every_shipped_recipe_validates_on_a_fresh_clone_and_train_names_the_recipe_to_run_first()
    {
        using var dir = new TempDir();
        string store = dir.File("empty-store");
        string configs = Path.Combine(CliProcess.RepoRoot, "configs");
        var recipes = Directory.EnumerateFiles(configs, "*.yaml", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(configs, f).StartsWith("targets", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(CliProcess.RepoRoot, f)).Order(StringComparer.Ordinal).ToList();
        Assert.Contains("configs/fashion-mnist/prune-80.yaml", recipes);
        foreach (string recipe in recipes)
        {
            var validate = CliProcess.Run("recipes", "validate", recipe, "--store", store);
            if (recipe == ImageFolderRecipe && !Directory.Exists(Path.Combine(CliProcess.RepoRoot, "fashion-mnist-folder")))
            {
                // Its folder is written by `distill data image-folder` (the recipe's comment says how); until then
                // validation names the missing folder at its line.
                Assert.True(validate.ExitCode == 2, $"{recipe}: {validate}");
                Assert.Contains($"{recipe}:14:17: data.train_folder: folder not found: ", validate.StdErr, StringComparison.Ordinal);
                continue;
            }
            Assert.True(validate.ExitCode == 0, $"{recipe}: {validate}");
        }
        Assert.False(Directory.Exists(store), "validating created a store");

        var prune = CliProcess.Run("recipes", "validate", "configs/fashion-mnist/prune-80.yaml", "--store", store);
        Assert.Contains($"note: configs/fashion-mnist/prune-80.yaml:21:15: teacher.checkpoint: run configs/fashion-mnist/kd.yaml first: " +
            $"no run fashion-mnist-kd in store {store}: there is no store there yet", prune.StdOut);
        var train = CliProcess.Run("train", "configs/fashion-mnist/prune-80.yaml", "--store", store);
        Assert.True(train.ExitCode == 2, train.ToString());
        Assert.Contains("configs/fashion-mnist/prune-80.yaml:24:15: student.checkpoint: run configs/fashion-mnist/kd.yaml first: no run fashion-mnist-kd",
            train.StdErr);
        Assert.False(Directory.Exists(store), "a refused train created a store");
    }

    [Fact]
    public void A_recipe_store_is_named_by_the_summary_and_an_unknown_experiment_is_refused()
    {
        using var dir = new TempDir();
        string recipe = dir.File("recipe.yaml");
        File.WriteAllText(recipe, $$"""
            name: tiny
            data: { format: csv, train_csv: {{Digits}}, header: false, scale: 16 }
            student:
              model: { arch: mlp, hidden: [8] }
            stages:
              - name: only
            tracking: { store: elsewhere, experiment: mine }
            """);
        // Run from the recipe's folder: a later `runs list` there looks in ./distill-runs, not in ./elsewhere.
        var train = CliProcess.Run(["train", recipe], TimeSpan.FromMinutes(5), workingDirectory: dir.Path);
        Assert.True(train.ExitCode == 0, train.ToString());
        string elsewhere = dir.File("elsewhere");
        Assert.Contains($"runs are in {elsewhere}: distill runs list --store {elsewhere}", train.StdOut);

        var list = CliProcess.Run(["runs", "list", "--store", elsewhere], TimeSpan.FromMinutes(1), workingDirectory: dir.Path);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("1 run(s) in " + elsewhere, list.StdOut);
        var nope = CliProcess.Run(["runs", "list", "--experiment", "nope", "--store", elsewhere], TimeSpan.FromMinutes(1), workingDirectory: dir.Path);
        Assert.True(nope.ExitCode == 2, nope.ToString());
        Assert.Contains($"experiment 'nope' does not exist in store {elsewhere}; its experiments: mine", nope.StdErr);

        // Into the default store, the summary has nothing to add.
        var plain = CliProcess.Run(["train", recipe, "--set", $"tracking.store={dir.File("distill-runs")}"], TimeSpan.FromMinutes(5), workingDirectory: dir.Path);
        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.DoesNotContain("runs are in", plain.StdOut);
        Assert.Matches(new Regex("run [0-9a-f]{32}  status FINISHED  store " + Regex.Escape(dir.File("distill-runs"))), plain.StdOut);
    }
}
