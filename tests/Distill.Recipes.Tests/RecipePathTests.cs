namespace Distill.Recipes.Tests;

/// <summary>Paths in a recipe are relative to its folder; the resolved recipe (recorded with every run and printed
/// by `recipes show`) names them in full, so that it means the same files read from any folder.</summary>
public sealed class RecipePathTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distill-recipe-paths-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Resolved_recipe_names_files_folders_and_profile_files_in_full_and_reloads_the_same_from_another_folder()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "data"));
        Directory.CreateDirectory(Path.Combine(_dir, "targets"));
        Directory.CreateDirectory(Path.Combine(_dir, "configs"));
        File.WriteAllText(Path.Combine(_dir, "data", "t.csv"), "1,2,0\n3,4,1\n");
        File.WriteAllBytes(Path.Combine(_dir, "data", "teacher.ckpt"), [1]);
        string shippedProfile = Path.Combine(AppContext.BaseDirectory, "configs", "targets", "x86-vnni.yaml");
        File.Copy(shippedProfile, Path.Combine(_dir, "targets", "mine.yaml"));
        string recipe = Path.Combine(_dir, "configs", "r.yaml");
        File.WriteAllText(recipe, """
            name: paths
            data: { format: csv, train_csv: ../data/t.csv, header: false }
            teacher: { model: { arch: mlp }, checkpoint: ../data/teacher.ckpt }
            student: { model: { arch: mlp } }
            stages: [ { name: a, loss: { kd: {} } } ]
            tracking: { store: ../runs }
            export: [ { target: ../targets/mine.yaml }, { target: onnx-fp32 } ]
            """);

        var plan = RecipeLoader.Load(recipe);

        string csv = Path.Combine(_dir, "data", "t.csv");
        Assert.Equal(csv, plan.Data.TrainCsv);
        Assert.Equal(Path.Combine(_dir, "data", "teacher.ckpt"), plan.Teacher!.Checkpoint);
        Assert.Equal(Path.Combine(_dir, "runs"), plan.Tracking.Store);
        Assert.Contains($"train_csv: {csv}\n", plan.ResolvedRecipe);
        Assert.Contains($"- target: {Path.Combine(_dir, "targets", "mine.yaml")}\n", plan.ResolvedRecipe);
        Assert.Contains("- target: onnx-fp32\n", plan.ResolvedRecipe); // a name stays a name
        Assert.Equal(csv, plan.Params["data.train_csv"]);

        // Read from an unrelated folder (as the run's artifact folder is), the resolved recipe is the same recipe.
        var again = RecipeLoader.LoadText(plan.ResolvedRecipe, "recipe.yaml", Path.Combine(_dir, "targets"));
        Assert.Equal(plan.ResolvedRecipe, again.ResolvedRecipe);
        Assert.Equal(plan.Params, again.Params);
        Assert.Equal(plan.Data, again.Data);
        Assert.Equal(plan.Tracking, again.Tracking);
        Assert.Equal(["x86-vnni", "onnx-fp32"], again.Exports.Select(p => p.Name));
    }
}
