namespace Distill.Recipes.Tests;

/// <summary>Recipe texts and helpers shared by the tests. Data paths are relative to
/// <see cref="DataDir"/>, where Debian's dataset-fashion-mnist package installs the real files.</summary>
internal static class Recipes
{
    public const string DataDir = "/usr/share/datasets";

    /// <summary>The smallest valid recipe; tests append lines to it (it has no trailing newline, and its
    /// last line is the first stage's "  - name: s", so appended "    key: value" lines belong to that stage).</summary>
    public const string Minimal = """
        name: t
        data:
          train: { images: fashion-mnist/train-images-idx3-ubyte.gz, labels: fashion-mnist/train-labels-idx1-ubyte.gz }
          test: { images: fashion-mnist/t10k-images-idx3-ubyte.gz, labels: fashion-mnist/t10k-labels-idx1-ubyte.gz }
        student:
          model: { arch: mlp, hidden: [32] }
        stages:
          - name: s
        """;

    public const string Full = """
        name: quickstart
        description: "a test recipe"
        seed: 7
        device: cpu
        data:
          format: idx
          train: { images: fashion-mnist/train-images-idx3-ubyte.gz, labels: fashion-mnist/train-labels-idx1-ubyte.gz }
          test: { images: fashion-mnist/t10k-images-idx3-ubyte.gz, labels: fashion-mnist/t10k-labels-idx1-ubyte.gz }
          validation_fraction: 0.15
          normalize: fixed
          mean: [0.286]
          std: [0.353]
          max_train: 5000
          max_test: 1000
          augment: { max_shift: 2 }
        teacher:
          model: { arch: cnn, channels: [32, 64], hidden: [128], dropout: 0.1 }
          train:
            epochs: 2
            optimizer: { name: sgd, lr: 0.05, momentum: 0.8, nesterov: true }
            schedule: { name: step, step_epochs: 1, gamma: 0.5 }
        student:
          model: { arch: cnn, channels: [8, 16], depthwise: [false, true], pool: [true, false], kernel_size: 5, batch_norm: false }
        stages:
          - name: distil
            epochs: 5
            batch_size: 64
            optimizer: { name: adamw, lr: 0.002, weight_decay: 1e-4, betas: [0.8, 0.99] }
            schedule: { name: cosine, warmup_epochs: 0.5, min_lr: 1e-5 }
            loss:
              kd: { temperature: 2, alpha: 0.7 }
              hint: { student_tap: block1, teacher_tap: block2 }
              label_smoothing: 0.05
            clip_grad_norm: 5
            early_stop: { metric: val/loss, patience: 2, min_delta: 0.001 }
            cache_teacher: false
          - name: finetune
            epochs: 1
        tracking: { store: ./runs, experiment: fmnist }
        """;

    public static Distill.Core.RunPlan Load(string yaml, params string[] overrides) =>
        RecipeLoader.LoadText(yaml, "recipe.yaml", DataDir, overrides);

    public static IReadOnlyList<RecipeError> Errors(string yaml, params string[] overrides)
    {
        var e = Assert.Throws<RecipeException>(() => Load(yaml, overrides));
        Assert.Equal(string.Join(Environment.NewLine, e.Errors), e.Message);
        return e.Errors;
    }

    public static RecipeError Single(string yaml, params string[] overrides)
    {
        var errors = Errors(yaml, overrides);
        Assert.True(errors.Count == 1, "expected one error, got:\n" + string.Join("\n", errors));
        return errors[0];
    }

    /// <summary>A store in <paramref name="folder"/>/store with one FINISHED run named <paramref name="runName"/> that holds
    /// <paramref name="artifact"/> (a small text file); returns the store's folder and the run's id.</summary>
    public static (string Store, string RunId) StoreWithRun(string folder, string runName, string artifact)
    {
        string store = Path.Combine(folder, "store");
        string file = Path.Combine(folder, Path.GetFileName(artifact));
        File.WriteAllText(file, "weights");
        using var runs = Distill.Core.Tracking.RunStore.Open(store);
        using var tracker = runs.StartRun("default", runName);
        tracker.LogArtifact(file, artifact);
        tracker.End(Distill.Core.Tracking.RunStatus.Finished);
        return (store, tracker.RunId);
    }

    public static void AssertAt(RecipeError error, int line, int column, string messagePart, string file = "recipe.yaml")
    {
        Assert.Equal((file, line, column), (error.File, error.Line, error.Column));
        Assert.Contains(messagePart, error.Message);
    }
}
