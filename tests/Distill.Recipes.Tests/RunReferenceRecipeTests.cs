using static Distill.Recipes.Tests.Recipes;

namespace Distill.Recipes.Tests;

/// <summary>runs:/ in student.checkpoint and teacher.checkpoint: its form is checked at its line while the recipe is read;
/// the run is looked up only with a <see cref="RunReferenceLookup"/> (train, recipes validate), never creating a store.</summary>
public sealed class RunReferenceRecipeTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("distill-refs-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly string WithReference = Minimal.Replace("  model: { arch: mlp, hidden: [32] }\n",
        "  model: { arch: mlp, hidden: [32] }\n  checkpoint: runs:/digits-kd/models/student.ckpt\n", StringComparison.Ordinal);

    [Fact]
    public void A_malformed_reference_is_an_error_at_its_value()
    {
        var error = Assert.Single(Assert.Throws<RecipeException>(() =>
            RecipeLoader.LoadText(WithReference.Replace("runs:/digits-kd/models/student.ckpt", "runs:/digits-kd", StringComparison.Ordinal), "recipe.yaml", DataDir)).Errors);
        // student.checkpoint is on line 7; "  checkpoint: " is 14 characters.
        Assert.Equal(("recipe.yaml", 7, 15), (error.File, error.Line, error.Column));
        Assert.StartsWith("student.checkpoint: 'runs:/digits-kd' needs a run and an artifact path", error.Message);
    }

    [Fact]
    public void Without_a_lookup_the_reference_stays_as_written()
    {
        var plan = RecipeLoader.LoadText(WithReference, "recipe.yaml", DataDir);
        Assert.Equal("runs:/digits-kd/models/student.ckpt", plan.Student.Checkpoint);
    }

    [Fact]
    public void A_missing_run_is_an_error_for_train_and_a_note_for_validate_and_no_store_is_created()
    {
        string store = Path.Combine(_folder, "store");
        var train = new RunReferenceLookup { StoreDirectory = _ => store };
        var error = Assert.Single(Assert.Throws<RecipeException>(() => RecipeLoader.LoadText(WithReference, "recipe.yaml", DataDir, references: train)).Errors);
        Assert.Equal(("recipe.yaml", 7, 15), (error.File, error.Line, error.Column));
        Assert.Equal($"student.checkpoint: train the recipe named digits-kd first: no run digits-kd in store {store}: there is no store there yet", error.Message);

        var validate = new RunReferenceLookup { StoreDirectory = _ => store, MissingRunIsNote = true };
        var plan = RecipeLoader.LoadText(WithReference, "recipe.yaml", DataDir, references: validate);
        Assert.Equal("runs:/digits-kd/models/student.ckpt", plan.Student.Checkpoint);
        Assert.Equal(error, Assert.Single(validate.Notes));
        Assert.False(Directory.Exists(store));
    }

    [Fact]
    public void A_found_run_becomes_its_file_in_the_plan_the_params_and_the_recorded_recipe()
    {
        var (store, runId) = StoreWithRun(_folder, "digits-kd", "models/student.ckpt");
        string file = Path.Combine(store, "artifacts", runId, "models", "student.ckpt");
        // tracking.store wins over the default, as the CLI's store resolution does; the lookup gets it as a full path.
        string? seen = "unset";
        var lookup = new RunReferenceLookup { StoreDirectory = recipeStore => (seen = recipeStore) ?? "/nonexistent" };
        var plan = RecipeLoader.LoadText(WithReference + "\ntracking: { store: " + store + " }", "recipe.yaml", DataDir, references: lookup);
        Assert.Equal(store, seen);
        Assert.Equal(file, plan.Student.Checkpoint);
        Assert.Equal(file, plan.Params["student.checkpoint"]);
        Assert.Contains($"checkpoint: {file}\n", plan.ResolvedRecipe, StringComparison.Ordinal);
        var (key, reference, resolved) = Assert.Single(lookup.Resolved);
        Assert.Equal(("student.checkpoint", "runs:/digits-kd/models/student.ckpt", runId), (key, reference.ToString(), resolved.Run.Id));
    }
}
