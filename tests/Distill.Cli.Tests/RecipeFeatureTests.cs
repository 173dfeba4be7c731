namespace Distill.Cli.Tests;

/// <summary>Recipe features exercised through the real command on real data.</summary>
public sealed class RecipeFeatureTests
{
    [Fact]
    public void Quickstart_recipe_runs_end_to_end_on_a_reduced_budget()
    {
        using var store = new TempDir();
        var result = CliProcess.Run(["train", "configs/quickstart.yaml", "--store", store.Path, "--json",
            "--set", "data.max_train=1500", "--set", "data.max_test=500",
            "--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=1",
            "--set", "stages[1].epochs=1", "--set", "stages[2].epochs=1"], TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);
        Assert.Equal("FINISHED", run.Status);
        // Even one epoch on 1,350 images must learn far beyond chance (10 %).
        Assert.True(run.Metric("teacher/test_acc") > 0.55, $"teacher {run.Metric("teacher/test_acc")}");
        Assert.True(run.Metric("student/test_acc") > 0.4, $"student {run.Metric("student/test_acc")}");
        Assert.True(run.Metric("student/params") * 10 <= run.Metric("teacher/params"));
        // The full path: the student was pruned to half and ends quantised (QAT).
        Assert.True(run.Metric("student/sparsity") >= 0.499, $"sparsity {run.Metric("student/sparsity")}");
        Assert.True(Math.Abs(run.Metric("student/test_acc") - run.Metric("student/float_test_acc")) <= 0.05,
            $"quantised {run.Metric("student/test_acc")} vs float {run.Metric("student/float_test_acc")}");
        Assert.Equal("train=1350 validation=150 test=500", run.Tag("data.sizes"));
        // Its Core ML export is checked against the specification, not run: a size and a verdict, no accuracy.
        Assert.Equal(1, run.Metric("export/coreml-int8/verified"));
        Assert.True(run.Metric("export/coreml-int8/size_bytes") < run.Metric("export/x86-vnni/size_bytes"));
        Assert.Contains("exports/coreml-int8/model.mlmodel", run.Artifacts);
        Assert.False(run.HasMetric("export/coreml-int8/test_acc"));
    }

    [Fact]
    public void Hint_loss_and_early_stop_work_together()
    {
        using var store = new TempDir();
        var result = CliProcess.Run(["train", "configs/digits/kd.yaml", "--store", store.Path, "--json",
            "--set", "teacher.train.epochs=4",
            "--set", "stages[0].epochs=40",
            "--set", "stages[0].loss.hint.student_tap=hidden0",
            "--set", "stages[0].loss.hint.teacher_tap=hidden1",
            "--set", "stages[0].loss.hint.weight=0.5",
            "--set", "stages[0].early_stop.metric=val/loss",
            "--set", "stages[0].early_stop.patience=1",
            "--set", "stages[0].clip_grad_norm=1"], TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = new RunJsonView(result.StdOut);
        Assert.Equal("FINISHED", run.Status);
        int epochs = int.Parse(run.Tag("stage.distil.epochs")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(epochs, 2, 39);
        Assert.True(run.Metric("student/test_acc") > 0.8, $"student {run.Metric("student/test_acc")}");
    }

    [Fact]
    public void Mixup_and_cutmix_train_teacher_and_student_on_mixed_batches()
    {
        using var store = new TempDir();
        string[] budget = ["--set", "teacher.train.epochs=6", "--set", "stages[0].epochs=8"];
        var plain = CliProcess.Run(["train", "configs/digits/kd.yaml", "--store", store.Path, "--json", .. budget], TimeSpan.FromMinutes(5));
        Assert.True(plain.ExitCode == 0, plain.ToString());
        // Flat rows take mixup alone; the digits as 8x8 images (a cnn student) take CutMix and shifts too.
        var mixup = CliProcess.Run(["train", "configs/digits/kd.yaml", "--store", store.Path, "--json", .. budget,
            "--set", "data.augment.mixup.alpha=0.4"], TimeSpan.FromMinutes(5));
        Assert.True(mixup.ExitCode == 0, mixup.ToString());
        var images = CliProcess.Run(["train", "configs/digits/kd.yaml", "--store", store.Path, "--json", .. budget,
            "--set", "data.image_shape=[1, 8, 8]", "--set", "student.model={ arch: cnn, channels: [8, 16], hidden: [] }",
            "--set", "data.augment={ max_shift: 1, mixup: { alpha: 0.2 }, cutmix: { alpha: 1.0 } }"], TimeSpan.FromMinutes(5));
        Assert.True(images.ExitCode == 0, images.ToString());

        var (plainRun, mixupRun, imageRun) = (new RunJsonView(plain.StdOut), new RunJsonView(mixup.StdOut), new RunJsonView(images.StdOut));
        // Soft targets of blended samples cannot be fitted as tightly as hard ones: the teacher's training loss is
        // higher with mixup than on the same data without it (the runs share seed, data and schedule).
        Assert.True(mixupRun.Metric("teacher/train/loss") > plainRun.Metric("teacher/train/loss") + 0.05,
            $"mixup {mixupRun.Metric("teacher/train/loss")} vs plain {plainRun.Metric("teacher/train/loss")}");
        // Both still learn the test set far beyond chance (10 %).
        Assert.True(mixupRun.Metric("student/test_acc") > 0.85, $"mixup student {mixupRun.Metric("student/test_acc")}");
        Assert.True(imageRun.Metric("student/test_acc") > 0.8, $"cutmix student {imageRun.Metric("student/test_acc")}");
        Assert.Equal("0.4", mixupRun.Param("data.augment.mixup.alpha"));
    }

    [Fact]
    public void Hint_between_unknown_taps_is_bad_input_listing_the_valid_taps()
    {
        using var store = new TempDir();
        var result = CliProcess.Run("train", "configs/digits/kd.yaml", "--store", store.Path,
            "--set", "teacher.train.epochs=1",
            "--set", "stages[0].loss.hint.student_tap=block7",
            "--set", "stages[0].loss.hint.teacher_tap=hidden1");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("block7", result.StdErr);
        Assert.Contains("hidden0", result.StdErr);
    }

    [Fact]
    public void Recipes_validate_and_show_report_and_resolve()
    {
        var valid = CliProcess.Run("recipes", "validate", "configs/quickstart.yaml");
        Assert.True(valid.ExitCode == 0, valid.ToString());
        Assert.Contains("valid", valid.StdOut);

        var shown = CliProcess.Run("recipes", "show", "configs/quickstart.yaml", "--set", "stages[0].epochs=3");
        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.Contains("epochs: 3", shown.StdOut);
        Assert.Contains("weight_decay: 0", shown.StdOut);

        var defaults = CliProcess.Run("recipes", "show", "--defaults");
        Assert.Contains("stages[].optimizer.lr", defaults.StdOut);

        var badOverride = CliProcess.Run("recipes", "validate", "configs/quickstart.yaml", "--set", "stages[0].epoch=3");
        Assert.True(badOverride.ExitCode == 2, badOverride.ToString());
        Assert.Contains("epochs", badOverride.StdErr);
    }
}
