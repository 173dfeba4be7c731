using Distill.Recipes.Schema;

namespace Distill.Recipes;

/// <summary>The family: section: the variants of the student that `distill train` makes in one family run.</summary>
public static partial class RecipeSchema
{
    private static MapSchema Family() => new()
    {
        Fields =
        [
            new()
            {
                Key = "variants",
                Schema = new ListSchema
                {
                    MinCount = 2,
                    Item = new MapSchema
                    {
                        Fields =
                        [
                            new() { Key = "name", Schema = StageName, Required = true, Doc = "The variant's name in the family manifest and in `distill family pick`" },
                            new()
                            {
                                Key = "set",
                                Schema = new MapSchema { Fields = [], AnyKey = Text },
                                DefaultEmpty = true,
                                Doc = "Recipe key (as --set writes it, e.g. student.model.channels) to the value this variant uses, e.g. { student.model.channels: \"[16, 24]\" }; empty = the recipe as written",
                            },
                        ],
                    },
                },
                Required = true,
                Doc = "The variants, at least two; each is the recipe with its set: values, trained in its own run under the family run",
            },
            new() { Key = "share_teacher", Schema = Bool, Default = true, Doc = "When the recipe trains its teacher: the first variant trains it and the others load its checkpoint (runs:/<first variant's run>/models/teacher.ckpt); false = each variant trains its own" },
            new() { Key = "parallel", Schema = Int(1, 1000), Default = 1L, Doc = "Variants trained at once, as processes sharing the cores (after the first, when the teacher is shared)" },
        ],
    };
}
