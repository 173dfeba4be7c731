using System.Text.RegularExpressions;
using Distill.Core.Tracking;
using Distill.Runtime;

namespace Distill.Cli.Tests;

/// <summary>`distill train` of a recipe with a family: section (digits, a KD teacher and two student widths, exports to
/// x86-vnni and arm-cortex-a), made once for <see cref="FamilyRecipeTests"/>.</summary>
public sealed class DigitsFamilyRecipe : IDisposable
{
    public DigitsFamilyRecipe()
    {
        Recipe = Write(Dir);
        Result = CliProcess.Run(["train", Recipe, "--store", Store, "--threads", "1"], TimeSpan.FromMinutes(10));
        Assert.True(Result.ExitCode == 0, Result.ToString());
        FamilyRunId = Regex.Match(Result.StdErr, "family ([0-9a-f]{32}): 2 variants").Groups[1].Value;
    }

    public TempDir Dir { get; } = new();
    public string Store => Dir.File("store");
    public string Recipe { get; }
    public CliResult Result { get; }
    public string FamilyRunId { get; }

    public static string Write(TempDir dir, string family = """
        family:
          variants:
            - name: narrow
              set: { student.model.hidden: "[4]" }
            - name: wide
              set: { student.model.hidden: "[128]" }
        """)
    {
        string recipe = dir.File("family.yaml");
        File.WriteAllText(recipe, $$"""
            name: digits-family
            seed: 3
            data: { format: csv, train_csv: {{Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz")}}, header: false, scale: 16, normalize: standard }
            teacher:
              model: { arch: mlp, hidden: [128] }
              train: { epochs: 3, batch_size: 64, optimizer: { name: adam, lr: 0.003 } }
            student:
              model: { arch: mlp, hidden: [16] }
            stages:
              - name: distil
                epochs: 4
                batch_size: 64
                optimizer: { name: adam, lr: 0.005 }
                loss: { kd: { temperature: 3, alpha: 0.8 } }
            export:
              - target: x86-vnni
              - target: arm-cortex-a
                verify_samples: 200

            """ + family + "\n");
        return recipe;
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>A recipe's family: section: one `distill train` makes every variant in its own run under a family run, the
/// first training the teacher that the others load, each exported to the recipe's targets, and a measured family
/// manifest for the ONNX target that Distill.Runtime reads.</summary>
public sealed class FamilyRecipeTests(DigitsFamilyRecipe made) : IClassFixture<DigitsFamilyRecipe>
{
    [Fact]
    public void One_train_makes_every_variant_from_one_teacher_and_a_measured_family_for_the_onnx_target()
    {
        using var store = RunStore.Open(made.Store);
        var familyRun = store.GetRun(made.FamilyRunId);
        Assert.Equal(("digits-family-family", RunStatus.Finished, "2"), (familyRun.Name, familyRun.Status, familyRun.Tags["distill.family"]));
        Assert.Equal("narrow,wide", familyRun.Params["family.variants"]);
        var variants = store.GetChildRuns(familyRun.Id).OrderBy(r => r.Tags["distill.sweep.trial"]).ToList();
        Assert.Equal(2, variants.Count);
        var (narrow, wide) = (variants[0], variants[1]);

        // Only the first variant trains the teacher; the second loads that very checkpoint and has no teacher phase.
        string teacher = store.ArtifactFile(narrow.Id, "models/teacher.ckpt");
        Assert.Equal(["teacher", "distil"], store.GetChildRuns(narrow.Id).Select(r => r.Name));
        Assert.Equal(["distil"], store.GetChildRuns(wide.Id).Select(r => r.Name));
        Assert.Equal(teacher, wide.Params["teacher.checkpoint"]);
        Assert.False(wide.Params.ContainsKey("teacher.train.epochs"));
        Assert.Equal(narrow.Metrics["teacher/test_acc"], wide.Metrics["teacher/test_acc"]);
        Assert.Equal(("[4]", "[128]"), (narrow.Params["student.model.hidden"], wide.Params["student.model.hidden"]));

        // Each variant exported itself to both targets of the recipe, verified in ONNX Runtime and in Arm NN.
        foreach (var variant in variants)
        {
            Assert.Equal(1, variant.Metrics["export/x86-vnni/verified"]);
            Assert.Equal(1, variant.Metrics["export/arm-cortex-a/verified"]);
        }

        // The family of the ONNX target: its variants are those runs' own x86-vnni files, measured.
        string path = Path.Combine(made.Store, "artifacts", familyRun.Id, "exports", "x86-vnni", "family", "manifest.json");
        Assert.Contains($"family for x86-vnni: {path}", made.Result.StdOut, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(made.Store, "artifacts", familyRun.Id, "exports", "arm-cortex-a")));
        var family = FamilyManifest.Load(path);
        Assert.Equal(["narrow", "wide"], family.Variants.Select(v => v.Name));
        Assert.Equal([64 * 4 + 4 + 4 * 10 + 10, 64 * 128 + 128 + 128 * 10 + 10], family.Variants.Select(v => v.Parameters));
        foreach (var (variant, run) in family.Variants.Zip(variants))
        {
            Assert.Equal(run.Metrics["export/x86-vnni/test_acc"], variant.TestAccuracy, 12);
            Assert.Equal(File.ReadAllBytes(store.ArtifactFile(run.Id, "exports/x86-vnni/model.onnx")), File.ReadAllBytes(family.PathOf(variant)));
            Assert.True(variant.Latency.Batch1Ms > 0 && variant.PeakMemoryBytes > 0 && variant.EnergyMjPerInference > 0, variant.ToString());
        }
        Assert.True(family.Variants[1].TestAccuracy > family.Variants[0].TestAccuracy + 0.2,
            $"wide {family.Variants[1].TestAccuracy:P2} vs narrow {family.Variants[0].TestAccuracy:P2}");

        var pick = CliProcess.Run("family", "pick", path, "--power", "ac");
        Assert.True(pick.ExitCode == 0, pick.ToString());
        Assert.Contains("variant: wide (", pick.StdOut, StringComparison.Ordinal);

        var show = CliProcess.Run("sweep", "show", familyRun.Id, "--store", made.Store, "--out", made.Dir.File("family.png"));
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Matches(@"\n\s+1\s+1\s+wide\s+\[128\]\s+FINISHED", show.StdOut);
        Assert.Contains($"family {familyRun.Id}: 2 of 2 variant(s) finished", show.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("teacher.checkpoint  ", show.StdOut, StringComparison.Ordinal);
        Assert.True(new FileInfo(made.Dir.File("family.png")).Length > 1000, "no plot of the variants");
    }

    [Fact]
    public void A_family_run_is_continued_by_sweep_resume_not_by_train_resume()
    {
        var resume = CliProcess.Run("train", "--resume", made.FamilyRunId, "--store", made.Store);
        Assert.Equal(2, resume.ExitCode);
        Assert.Contains($"is a family run; continue its unfinished runs with: distill sweep resume {made.FamilyRunId}", resume.StdErr, StringComparison.Ordinal);

        var sweepResume = CliProcess.Run("sweep", "resume", made.FamilyRunId, "--store", made.Store);
        Assert.True(sweepResume.ExitCode == 0, sweepResume.ToString());
        Assert.Contains("nothing to resume", sweepResume.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void A_variant_value_the_recipe_refuses_exits_2_naming_the_variant_before_any_run_starts()
    {
        using var dir = new TempDir();
        string recipe = DigitsFamilyRecipe.Write(dir, """
            family:
              variants:
                - name: a
                - name: b
                  set: { student.model.hidden: "[0]" }
            """);
        var result = CliProcess.Run("train", recipe, "--store", dir.File("store"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("family.variants[1].set.student.model.hidden of the recipe: ", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("(value '[0]')", result.StdErr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.File("store")), "a store was created for a refused recipe");
    }
}
