using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>device: cuda is checked against the machine while the recipe is read, instead of running on the CPU
/// without a word. This machine has the CPU-only LibTorch (libtorch-cpu-linux-x64), as CI has.</summary>
public class DeviceTests
{
    private static readonly DeviceSupport WithCuda = new(_ => null);

    [Fact]
    public void CudaIsRefusedAtItsLineWhenThisBuildHasNoCuda()
    {
        Assert.False(TorchSharp.torch.cuda.is_available(), "this test expects the CPU build of LibTorch");
        var error = Single(Minimal.Replace("name: t\n", "name: t\ndevice: cuda\n"));
        // "device: " is 8 characters: the value is at 2:9.
        Assert.Equal(("recipe.yaml", 2, 9), (error.File, error.Line, error.Column));
        Assert.StartsWith("device: CUDA is not available in this build: Distill is built with the CPU-only LibTorch (NuGet package libtorch-cpu-linux-x64)", error.Message);
        Assert.Contains("TorchSharp-cuda-linux", error.Message);
        Assert.Contains("libtorch-cuda-12.8-linux-x64", error.Message);
        Assert.Contains("not served by this project's package feed", error.Message);
    }

    [Fact]
    public void CudaFromTheCommandLineIsRefusedAtTheArgument()
    {
        var error = Single(Minimal, "device=cuda");
        Assert.Equal(("<command line>:--set 1", 1, 8), (error.File, error.Line, error.Column));
        Assert.StartsWith("device: CUDA is not available in this build", error.Message);
    }

    [Fact]
    public void CudaIsKeptInThePlanWhereTheMachineHasIt()
    {
        var plan = RecipeLoader.LoadText(Minimal + "\ndevice: cuda", "recipe.yaml", DataDir, devices: WithCuda);
        Assert.Equal("cuda", plan.Device);
        Assert.Equal("cuda", plan.Params["device"]);
    }

    [Fact]
    public void CommandsThatOnlyReadTheDataAcceptAnyDevice()
    {
        var plan = RecipeLoader.LoadText(Minimal + "\ndevice: cuda", "recipe.yaml", DataDir, devices: DeviceSupport.Any);
        Assert.Equal("cuda", plan.Device);
    }
}
