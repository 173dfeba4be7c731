using Distill.Core;
using Distill.Core.Pruning;
using Distill.Core.Training;
using Distill.Recipes.Schema;

namespace Distill.Recipes;

/// <summary>The sections of the recipe schema that registries describe: the prune section (its method's own keys
/// apply only with the methods that read them), the optimiser and the schedule (their names and options).</summary>
public static partial class RecipeSchema
{
    private static MapSchema Prune()
    {
        // A method's own keys apply only with the methods that read them (PruningMethods' table).
        var sized = new Condition("method", [.. PruningMethods.Reading("sparsity")]);
        var ranked = new Condition("method", [.. PruningMethods.Reading("ranking")]);
        var normed = new Condition("method", [.. PruningMethods.Reading("norm")]);
        var n = new Condition("method", [.. PruningMethods.Reading("n")]);
        var m = new Condition("method", [.. PruningMethods.Reading("m")]);
        var overridden = new Condition("method", [.. PruningMethods.Reading("overrides")]);
        var shrunk = new Condition("method", [.. PruningMethods.Reading("shrink")]);
        var methods = PruningMethods.Registry.Entries;
        var gradual = new Condition("schedule", "gradual");
        return new MapSchema
        {
            Fields =
            [
                new()
                {
                    Key = "method",
                    Schema = Enum([.. PruningMethods.Registry.Names]),
                    Default = PruningMethods.Of(new PruneOptions().Method).Name,
                    Doc = string.Join("; ", methods.Select(e => $"{e.Name}: {e.Doc}")),
                },
                new() { Key = "sparsity", Schema = Fraction(), Required = true, When = sized, Doc = "Final fraction of the selected weights (magnitude) or channels (channel) that are zero" },
                new()
                {
                    Key = "ranking",
                    Schema = Enum("global", "layer"),
                    When = ranked,
                    DefaultFrom = section => section.Str("method") is { } method && PruningMethods.Registry.Find(method)?.DefaultRanking is { } ranking
                        ? RankingName(ranking)
                        : null,
                    DefaultText = string.Join(", ", methods.Where(e => e.DefaultRanking is not null).Select(e => $"{RankingName(e.DefaultRanking!.Value)} for {e.Name}")),
                    Doc = "global: one threshold across all selected layers; layer: every layer to the same sparsity",
                },
                new() { Key = "norm", Schema = Enum("l1", "l2"), Default = "l1", When = normed, Doc = "Norm a channel is ranked by" },
                new() { Key = "n", Schema = Int(1, 63), Default = 2L, When = n, Doc = "Weights kept in every group of m" },
                new() { Key = "m", Schema = Int(2, 64), Default = 4L, When = m, Doc = "Group size along the input dimension (input features; input channels of a conv); must divide every selected layer's input size" },
                new() { Key = "schedule", Schema = Enum("one_shot", "gradual"), Default = "one_shot", Doc = "one_shot: prune to the target at start_epoch; gradual: cubic s_t = s_f + (s_i - s_f)(1 - t/T)^3 from start_epoch to end_epoch" },
                new() { Key = "start_epoch", Schema = Number(0), Default = 0.0, Doc = "Epoch of the stage (fractions allowed) at which pruning starts" },
                new() { Key = "end_epoch", Schema = Number(0, minExclusive: true), When = gradual, DefaultText = "the end of the stage", Doc = "Epoch by which the final sparsity is reached; at most the stage's epochs" },
                new() { Key = "initial_sparsity", Schema = Fraction(), Default = 0.0, When = gradual, Doc = "s_i, the sparsity the schedule starts from" },
                new() { Key = "update_every", Schema = Int(1, int.MaxValue), Default = 50L, When = gradual, Doc = "Optimiser steps between mask updates" },
                new() { Key = "layers", Schema = new ListSchema { Item = Text, MinCount = 1 }, DefaultText = "every conv and linear weight the method can prune", Doc = "Parameter-name globs (* and ?) of the layers to prune, e.g. block*.conv.weight, head.fc0.weight" },
                new() { Key = "exclude", Schema = new ListSchema { Item = Text }, Default = Array.Empty<object>(), Doc = "Globs of layers to leave dense" },
                new() { Key = "keep_first_last_dense", Schema = Bool, Default = true, Doc = "Leave the model's first and last conv/linear weights (block0's conv, head.out) dense" },
                new()
                {
                    Key = "overrides",
                    Schema = new ListSchema
                    {
                        Item = new MapSchema
                        {
                            Fields =
                            [
                                new() { Key = "layer", Schema = Text, Required = true, Doc = "Glob of selected layers" },
                                new() { Key = "sparsity", Schema = Fraction(), Required = true, Doc = "Their own final sparsity (ranked layer-wise)" },
                            ],
                        },
                    },
                    When = overridden,
                    Doc = "Per-layer sparsity, e.g. [{ layer: head.fc0.weight, sparsity: 0.5 }]",
                },
                new() { Key = "shrink", Schema = Bool, Default = false, When = shrunk, Doc = "After the stage, rebuild the student without its pruned channels (a smaller dense model, same outputs)" },
            ],
        };
    }

    private static string RankingName(PruneRanking ranking) => ranking == PruneRanking.Layer ? "layer" : "global";

    private static MapSchema Optimizer() => new()
    {
        Fields =
        [
            new() { Key = "name", Schema = Enum([.. Optimizers.Registry.Names]), Default = Optimizers.Of(new OptimizerOptions().Kind).Name, Doc = "Optimiser" },
            .. Optimizers.Options.Select(FromOption),
        ],
    };

    private static MapSchema Schedule() => new()
    {
        Fields =
        [
            new() { Key = "name", Schema = Enum([.. Schedules.Registry.Names]), Default = Schedules.Of(new ScheduleOptions().Kind).Name, Doc = "Schedule" },
            .. Schedules.Options.Select(FromOption),
        ],
    };

    /// <summary>A registry option as a recipe key: its range, its default (the option record's) and its doc.</summary>
    internal static Field FromOption(OptionSpec option)
    {
        var range = option.Range;
        ScalarSchema Scalar(ScalarKind kind) => new()
        {
            Kind = kind,
            Min = range.Min,
            MinExclusive = range.MinExclusive,
            Max = range.Max,
            MaxExclusive = range.MaxExclusive,
        };
        return option.Kind switch
        {
            OptionKind.Integer => new() { Key = option.Key, Schema = Scalar(ScalarKind.Integer), Default = Convert.ToInt64(option.Default, System.Globalization.CultureInfo.InvariantCulture), Doc = option.Doc },
            OptionKind.Number => new() { Key = option.Key, Schema = Scalar(ScalarKind.Number), Default = (double)option.Default, Doc = option.Doc },
            OptionKind.Boolean => new() { Key = option.Key, Schema = Bool, Default = (bool)option.Default, Doc = option.Doc },
            OptionKind.NumberList => new()
            {
                Key = option.Key,
                Schema = new ListSchema { Item = Scalar(ScalarKind.Number), ExactCount = option.Count },
                Default = ((double[])option.Default).Cast<object>().ToArray(),
                Doc = option.Doc,
            },
            _ => throw new ArgumentOutOfRangeException(nameof(option), option.Kind, "unknown option kind"),
        };
    }
}
