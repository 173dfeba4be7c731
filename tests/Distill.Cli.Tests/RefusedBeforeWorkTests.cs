namespace Distill.Cli.Tests;

/// <summary>A recipe that cannot run here, or that is too large, is refused while it is read: exit 2 at its line,
/// before any data is loaded, and nothing is created (no run, no recipe copy).</summary>
public sealed class RefusedBeforeWorkTests
{
    private const string Recipe = "configs/digits/kd.yaml";

    private static void AssertRefused(CliResult result, TempDir dir, string message)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.StdErr);
        Assert.DoesNotContain("   at ", result.StdErr);
        Assert.False(Directory.Exists(dir.File("store")), "the store was created: " + result);
    }

    [Fact]
    public void Device_cuda_is_refused_at_its_line_by_the_cpu_build()
    {
        using var dir = new TempDir();
        var recipe = dir.File("cuda.yaml");
        File.WriteAllText(recipe, File.ReadAllText(Path.Combine(CliProcess.RepoRoot, Recipe))
            .Replace("seed: 7", "seed: 7\ndevice: cuda", StringComparison.Ordinal)
            .Replace("../../data/", Path.Combine(CliProcess.RepoRoot, "data") + "/", StringComparison.Ordinal));
        // The shipped kd.yaml has "seed: 7" on line 5, so device is line 6; "device: " is 8 characters.
        var train = CliProcess.Run("train", recipe, "--store", dir.File("store"));
        AssertRefused(train, dir, $"{recipe}:6:9: device: CUDA is not available in this build");
        Assert.Contains("TorchSharp-cuda-linux", train.StdErr);

        var validate = CliProcess.Run("recipes", "validate", recipe);
        Assert.Equal(2, validate.ExitCode);
        Assert.Contains($"{recipe}:6:9: device: CUDA is not available in this build", validate.StdErr);
    }

    [Fact]
    public void Device_cuda_from_set_is_refused_at_the_argument()
    {
        using var dir = new TempDir();
        var train = CliProcess.Run("train", Recipe, "--set", "device=cuda", "--store", dir.File("store"));
        AssertRefused(train, dir, "<command line>:--set 1:1:8: device: CUDA is not available in this build");
    }

    [Fact]
    public void Description_over_mlflows_param_limit_is_refused_before_the_data_is_read()
    {
        // It used to fail after loading the data, with a stack trace, a FAILED run and a copy of the recipe in the store.
        using var dir = new TempDir();
        var train = CliProcess.Run("train", Recipe, "--set", "description=" + new string('d', 6001), "--store", dir.File("store"));
        AssertRefused(train, dir, "<command line>:--set 1:1:13: description: is 6,001 characters long; at most 6,000");
    }

    [Fact]
    public void Model_above_the_parameter_ceiling_is_refused_at_its_line()
    {
        using var dir = new TempDir();
        var train = CliProcess.Run("train", Recipe, "--set", "student.model.hidden=[20000,20000]", "--store", dir.File("store"));
        AssertRefused(train, dir, "student.model: has at least 400,100,002 parameters");
    }
}
