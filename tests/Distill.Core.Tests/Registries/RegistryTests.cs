using Distill.Core;
using Distill.Core.Models;
using Distill.Core.Quantization;

namespace Distill.Core.Tests.Registries;

/// <summary>The registry every axis (observers, schedules, optimisers, pruning criteria) keeps its names in:
/// one spelling, earlier spellings only where asked for, and an unknown name is an error that says what was meant.</summary>
public class RegistryTests
{
    private sealed record Entry(string Name, string Doc) : IRegistryEntry
    {
        public IReadOnlyList<string> Aliases { get; init; } = [];
    }

    [Fact]
    public void Unknown_name_is_an_error_with_the_closest_name_and_every_choice()
    {
        var registry = new Registry<Entry>("colour", [new("red", "r"), new("green", "g") { Aliases = ["grn"] }, new("blue", "b")]);
        Assert.Equal(["red", "green", "blue"], registry.Names);
        Assert.Equal("green", registry.Get("green").Name);
        // "gren" is one edit from "green".
        var e = Assert.Throws<InvalidInputException>(() => registry.Get("gren"));
        Assert.Equal("unknown colour 'gren' (did you mean 'green'?); choose from red, green, blue", e.Message);
        // Nothing within two edits of "purple": no suggestion, never a default.
        Assert.Equal("unknown colour 'purple'; choose from red, green, blue", Assert.Throws<InvalidInputException>(() => registry.Get("purple")).Message);
        // Aliases count only when the reader asks for them.
        Assert.Null(registry.Find("grn"));
        Assert.Equal("green", registry.Get("grn", aliases: true).Name);
    }

    [Fact]
    public void A_name_or_alias_registered_twice_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new Registry<Entry>("colour", [new("red", "r"), new("red", "again")]));
        Assert.Throws<ArgumentException>(() => new Registry<Entry>("colour", [new("red", "r"), new("blue", "b") { Aliases = ["red"] }]));
    }

    [Fact]
    public void Observers_have_one_spelling_and_the_old_cli_spellings_as_aliases()
    {
        Assert.Equal(["min_max", "moving_average", "percentile", "entropy", "mse"], Observers.Registry.Names);
        // Every kind has exactly one entry, so NameOf never falls back.
        Assert.Equal(Enum.GetValues<ObserverKind>(), Observers.Registry.Entries.Select(e => e.Kind).Order());
        Assert.Equal(ObserverKind.MinMax, Observers.Registry.Get("minmax", aliases: true).Kind);
        Assert.Equal(ObserverKind.MovingAverageMinMax, Observers.Registry.Get("moving-average", aliases: true).Kind);
        Assert.Null(Observers.Registry.Find("minmax"));
        Assert.Equal("unknown observer 'min-max' (did you mean 'min_max'?); choose from min_max, moving_average, percentile, entropy, mse",
            Assert.Throws<InvalidInputException>(() => Observers.Registry.Get("min-max")).Message);
    }

    [Fact]
    public void A_per_channel_scheme_with_a_histogram_observer_names_the_observers_that_fit()
    {
        var e = Assert.Throws<InvalidInputException>(() => Observers.Create(ObserverKind.Percentile, QuantScheme.WeightInt8PerChannel));
        Assert.Equal("the percentile observer finds one range per tensor; a per-channel scheme needs the min_max or moving_average observer.", e.Message);
    }

    [Fact]
    public void Every_architecture_has_one_entry_and_only_classifiers_build_a_zoo_model()
    {
        Assert.Equal(["mlp", "cnn", "resnet", "mobilenet_v2", "transformer-lm"], Architectures.Registry.Names);
        Assert.Equal(Enum.GetValues<ModelArch>(), Architectures.Registry.Entries.Select(e => e.Arch).Order());
        Assert.Equal(["mlp", "cnn", "resnet", "mobilenet_v2"], Architectures.NamesOf(ModelFamilyKind.Classifier));
        Assert.Equal(["transformer-lm"], Architectures.NamesOf(ModelFamilyKind.LanguageModel));
        // The zoo model carries the registry's name as its module name.
        using var cnn = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [2], Hidden = [] }, [1, 4, 4], 3);
        Assert.Equal("cnn", cnn.GetName());
        // A language-model spec is not built as a classifier by accident: the error lists the classifier architectures.
        var e = Assert.Throws<InvalidInputException>(() => ModelZoo.Build(new ModelSpec { Arch = ModelArch.TransformerLm }, [1, 4, 4], 3));
        Assert.Equal("transformer-lm is not a classifier architecture; choose from mlp, cnn, resnet, mobilenet_v2.", e.Message);
        Assert.Equal("unknown architecture 'resnt' (did you mean 'resnet'?); choose from mlp, cnn, resnet, mobilenet_v2, transformer-lm",
            Assert.Throws<InvalidInputException>(() => Architectures.Registry.Get("resnt")).Message);
    }
}
