using System.Globalization;
using Distill.Core.Models;
using Distill.Core.Text;

namespace Distill.Recipes.Schema;

/// <summary>The parameter ceiling (<see cref="RecipeLimits.Parameters"/>) checked on a lower bound of each model's
/// size: the data's input size and classes are not known until the data is read, so the count takes the
/// smallest they can be (one input value, two classes; a character vocabulary of two tokens). Core checks the
/// exact count again before it builds a model. Runs on a recipe that is otherwise valid.</summary>
internal static class SizeChecks
{
    public static void Run(MapValue root, List<RecipeError> errors)
    {
        Check(root.Map("teacher")?.Map("model"), "teacher.model", root, errors);
        Check(root.Map("student")?.Map("model"), "student.model", root, errors);
    }

    private static void Check(MapValue? model, string path, MapValue root, List<RecipeError> errors)
    {
        if (model is null)
        {
            return;
        }
        var spec = PlanBinder.BindModel(model);
        long count = spec.Lm is { } lm ? LmLowerBound(lm, root) : ModelZoo.ParameterCount(spec, spec.Arch is ModelArch.Cnn or ModelArch.Resnet or ModelArch.MobileNetV2 ? [1, 1, 1] : [1], 2);
        if (count > RecipeLimits.Parameters.Value)
        {
            errors.Add(model.At.Error(string.Create(CultureInfo.InvariantCulture,
                $"{path}: has at least {count:N0} parameters (before the data gives its input size and classes); a model may have at most {RecipeLimits.Parameters.Text} ({RecipeLimits.Parameters.Why})")));
        }
    }

    private static long LmLowerBound(TransformerLmOptions lm, MapValue root)
    {
        var data = root.Map("data");
        int context = data?.Raw("context") is long c ? (int)c : 1;
        int vocab = data?.Str("tokenizer") == "byte" ? 256 : 2;
        return (lm with { Context = context, VocabSize = vocab }).ParameterCount();
    }
}
