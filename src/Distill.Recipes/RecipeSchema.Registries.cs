using Distill.Core;
using Distill.Core.Distillation;
using Distill.Core.Pruning;
using Distill.Core.Training;
using Distill.Recipes.Schema;

namespace Distill.Recipes;

/// <summary>The sections of the recipe schema that registries describe: the prune section (its method's own keys
/// apply only with the methods that read them), the optimiser and the schedule (their names and options), and the
/// loss section (the loss terms' keys).</summary>
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

    /// <summary>The loss section: every loss term's keys (<see cref="Losses.Keys"/>). A teacher's stage trains on the hard
    /// labels: the keys of terms that need a teacher are known there but refused.</summary>
    private static MapSchema Loss(bool teacherStage)
    {
        if (!teacherStage)
            return new MapSchema { Fields = [.. Losses.Keys.Select(k => LossField(k.Key))] };
        const string why = "the teacher is trained with plain cross-entropy; kd and hint belong in the student's stages";
        return new MapSchema
        {
            Fields = [.. Losses.Keys.Where(k => !k.Term.Needs.HasFlag(LossNeeds.Teacher)).Select(k => LossField(k.Key))],
            Forbidden = Losses.KeysNeeding(LossNeeds.Teacher).ToDictionary(key => key, _ => why),
        };
    }

    /// <summary>A student stage's loss doc: the terms, in the order the loss folds them.</summary>
    private static string LossDoc() =>
        $"What the stage minimises, its terms in this order: {string.Join("; ", Losses.Registry.Entries.Select(e => $"{e.Name}: {e.Doc}"))}. " +
        $"A term is on when its key is present ({Losses.Registry.Entries[0].Name} always)";

    private static Field LossField(LossKey key)
    {
        if (key.Shape == LossKeyShape.Option)
            return FromOption(key.Options.Single());
        var map = new MapSchema { Fields = [.. key.Options.Select(FromOption)] };
        return new Field
        {
            Key = key.Key,
            Schema = key.Shape == LossKeyShape.List ? new ListSchema { Item = map, MinCount = 1 } : map,
            Doc = key.Doc,
        };
    }

    /// <summary>A registry option as a recipe key: its range, its default (the option record's; none when required) and its doc.</summary>
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
        (SchemaNode Schema, object Value) shape = option.Kind switch
        {
            OptionKind.Integer => (Scalar(ScalarKind.Integer), Convert.ToInt64(option.Default, System.Globalization.CultureInfo.InvariantCulture)),
            OptionKind.Number => (Scalar(ScalarKind.Number), (double)option.Default),
            OptionKind.Boolean => (Bool, (bool)option.Default),
            OptionKind.Text => (Text, (string)option.Default),
            OptionKind.NumberList => (new ListSchema { Item = Scalar(ScalarKind.Number), ExactCount = option.Count }, ((double[])option.Default).Cast<object>().ToArray()),
            _ => throw new ArgumentOutOfRangeException(nameof(option), option.Kind, "unknown option kind"),
        };
        return new Field { Key = option.Key, Schema = shape.Schema, Required = option.Required, Default = option.Required ? null : shape.Value, Doc = option.Doc };
    }
}
