using Distill.Core;
using Distill.Core.Tracking;
using Distill.Recipes;

namespace Distill.Cli.Commands;

/// <summary>A run's recorded recipe (its recipe.yaml artifact) and the folder its relative paths are read from.
/// Every command that reads a run's recipe (resume, export) goes through here.</summary>
/// <remarks>A recorded recipe names its files by full path, so it reads the same from anywhere. Recipes recorded
/// before that named them relative to the recipe's folder, which the run keeps in its
/// <see cref="TrainCommand.BaseDirectoryParam"/> param.</remarks>
internal sealed record RecordedRecipe(string Path, string Folder)
{
    public static RecordedRecipe Of(RunStore store, RunRecord run)
    {
        string path = store.ResolveArtifact(run.Id, RunExecutor.RecipeArtifact);
        return new RecordedRecipe(path, run.Params.GetValueOrDefault(TrainCommand.BaseDirectoryParam) ?? Environment.CurrentDirectory);
    }

    public RunPlan Load() => RecipeLoader.LoadText(File.ReadAllText(Path), Path, Folder, recorded: true);
}
