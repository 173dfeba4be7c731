using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>Which optimiser a stage uses; <see cref="Optimizers.Registry"/> holds each one's name and factory.</summary>
public enum OptimizerKind { Sgd, Adam, AdamW }

/// <summary>One optimiser: its <see cref="OptimizerKind"/>, its name and how to build it from the stage's options.</summary>
public sealed record OptimizerEntry(
    OptimizerKind Kind,
    string Name,
    string Doc,
    Func<OptimizerOptions, IEnumerable<Parameter>, optim.Optimizer> Create) : IRegistryEntry
{
    public IReadOnlyList<string> Aliases { get; init; } = [];
}

/// <summary>The optimisers and their options. To add one: a member of <see cref="OptimizerKind"/> above and a line here
/// (plus, when it has a new option, a property on <see cref="OptimizerOptions"/> and a line in <see cref="Options"/>);
/// the recipe schema, its docs and the binder read these tables.</summary>
public static class Optimizers
{
    public static Registry<OptimizerEntry> Registry { get; } = new("optimiser",
    [
        new(OptimizerKind.Sgd, "sgd", "stochastic gradient descent with (Nesterov) momentum",
            (o, parameters) => ScalarSafeOptimizers.Sgd(parameters, o.LearningRate, o.Momentum, o.WeightDecay, o.Nesterov)),
        new(OptimizerKind.Adam, "adam", "Adam (Kingma & Ba), weight decay added to the gradient",
            (o, parameters) => ScalarSafeOptimizers.Adam(parameters, o.LearningRate, o.Beta1, o.Beta2, o.WeightDecay)),
        new(OptimizerKind.AdamW, "adamw", "Adam with decoupled weight decay (Loshchilov & Hutter)",
            (o, parameters) => ScalarSafeOptimizers.AdamW(parameters, o.LearningRate, o.Beta1, o.Beta2, o.WeightDecay)),
    ]);

    private static readonly OptimizerOptions Defaults = new();

    /// <summary>The options every optimiser section has, in recipe order; defaults are <see cref="OptimizerOptions"/>'.</summary>
    public static IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("lr", OptionKind.Number, Defaults.LearningRate, "Learning rate (the peak for one_cycle)") { Range = new(0, MinExclusive: true) },
        new("weight_decay", OptionKind.Number, Defaults.WeightDecay, "Weight decay, explicit for every optimiser") { Range = new(0) },
        new("momentum", OptionKind.Number, Defaults.Momentum, "sgd: momentum") { Range = new(0, Max: 1, MaxExclusive: true) },
        new("nesterov", OptionKind.Boolean, Defaults.Nesterov, "sgd: Nesterov momentum"),
        new("betas", OptionKind.NumberList, new[] { Defaults.Beta1, Defaults.Beta2 }, "adam/adamw: [beta1, beta2]") { Range = new(0, Max: 1, MaxExclusive: true), Count = 2 },
    ];

    public static OptimizerEntry Of(OptimizerKind kind) => Registry.Entries.First(e => e.Kind == kind);
}
