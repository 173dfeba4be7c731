using System.CommandLine;
using Distill.Recipes;

namespace Distill.Cli.Commands;

public static class RecipesCommand
{
    public static Command Create()
    {
        var recipes = new Command("recipes", "Check and inspect recipe files.");

        var validateFile = new Argument<string>("recipe") { Description = "Recipe file (YAML)" };
        var validate = new Command("validate", "Report every problem in a recipe, with file:line:column; exit 2 if any.")
        {
            validateFile, TrainCommand.Set,
        };
        validate.SetAction(parse =>
        {
            var path = parse.GetValue(validateFile)!;
            // An earlier run a reference names may not be trained yet (a fresh clone): that is a note, not an error.
            var references = GlobalOptions.References(parse, missingRunIsNote: true);
            var plan = RecipeLoader.Load(path, parse.GetValue(TrainCommand.Set) ?? [], references: references);
            foreach (var (key, reference, resolved) in references.Resolved)
                Console.Out.WriteLine($"{key}: {reference} is run {resolved.Run.Id} ({resolved.Run.Name}): {resolved.Path}");
            foreach (var note in references.Notes)
                Console.Out.WriteLine($"note: {note} (train resolves it when the run exists)");
            Console.Out.WriteLine($"{path}: valid ({plan.Stages.Count} stage(s), teacher: {(plan.OnnxTeacher is { } onnx ? $"ONNX file {onnx.Path}" : plan.TeacherEnsemble is { } ensemble ? $"ensemble of {ensemble.Members.Count}" : plan.Teacher is null ? "none" : plan.Teacher.Train is not null ? "trained by the recipe" : "loaded from checkpoint")})");
            return ExitCodes.Success;
        });

        var showFile = new Argument<string?>("recipe") { Description = "Recipe file (YAML)", Arity = ArgumentArity.ZeroOrOne };
        var defaults = new Option<bool>("--defaults") { Description = "List every recipe key with its type, default and allowed values" };
        var show = new Command("show", "Print the resolved recipe with every default filled in.")
        {
            showFile, TrainCommand.Set, defaults,
        };
        show.SetAction(parse =>
        {
            if (parse.GetValue(defaults))
            {
                Console.Out.Write(RecipeSchema.DescribeDefaults());
                return ExitCodes.Success;
            }
            var path = parse.GetValue(showFile)
                ?? throw new Core.InvalidInputException("give a recipe file, or --defaults");
            Console.Out.Write(RecipeLoader.Load(path, parse.GetValue(TrainCommand.Set) ?? []).ResolvedRecipe);
            return ExitCodes.Success;
        });

        recipes.Subcommands.Add(validate);
        recipes.Subcommands.Add(show);
        return recipes;
    }
}
