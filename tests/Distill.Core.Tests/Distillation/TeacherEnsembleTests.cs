using Distill.Core.Data;
using Distill.Core.Distillation;
using Distill.Core.Models;
using Distill.Core.Training;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Distillation;

/// <summary>An ensemble of model checkpoints: its logits are the mean of its members' logits, each member fed the
/// inputs it was trained on (re-normalised when its checkpoint records another normalisation than the data's); it has
/// no taps; a member that does not fit the data is reported at the member's recipe position.
/// (Real digits-trained members and an ONNX member: tests/Distill.Cli.Tests/TeacherEnsembleTests.cs.)</summary>
public sealed class TeacherEnsembleTests : IDisposable
{
    private static readonly long[] Shape = [1, 4, 4];
    private static readonly Normalization DataNorm = new([0.3], [0.4]);

    private readonly string _dir = Directory.CreateTempSubdirectory("distill-ensemble-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A freshly initialised cnn or mlp (random weights under the seed) saved as a checkpoint.</summary>
    private string Checkpoint(string name, int seed, ModelSpec spec, Normalization? normalization, long[]? shape = null, int classes = 3)
    {
        manual_seed(seed);
        using var model = ModelZoo.Build(spec, shape ?? Shape, classes);
        string path = Path.Combine(_dir, name);
        ModelCheckpoint.Save(path, model, normalization, "teacher", runId: null);
        return path;
    }

    private static readonly ModelSpec Cnn = new() { Arch = ModelArch.Cnn, Channels = [4], Hidden = [8] };
    private static readonly ModelSpec Mlp = new() { Arch = ModelArch.Mlp, Hidden = [16] };

    private static EnsembleMemberOptions Member(string checkpoint, int line) => new() { Checkpoint = checkpoint, Where = $"recipe.yaml:{line}:19" };

    private static TeacherEnsemble Load(params EnsembleMemberOptions[] members) =>
        TeacherEnsemble.Load(new TeacherEnsembleOptions { Members = members }, Path.GetFullPath, Shape, 3, DataNorm, CPU);

    /// <summary>The member's own logits, computed here without the ensemble: its checkpoint loaded, in eval mode.</summary>
    private static Tensor MemberLogits(string checkpoint, Tensor input)
    {
        var (model, _) = ModelCheckpoint.Load(checkpoint);
        using (model)
        {
            model.eval();
            using var noGrad = no_grad();
            return model.call(input);
        }
    }

    [Fact]
    public void Logits_are_the_mean_of_the_members_logits_each_on_the_inputs_it_was_trained_on()
    {
        string same = Checkpoint("same.ckpt", 1, Cnn, DataNorm);
        // Trained on inputs normalised with mean 0.5, std 0.2: it gets (x·0.4 + 0.3 − 0.5) / 0.2 of the student's x.
        string other = Checkpoint("other.ckpt", 2, Mlp, new Normalization([0.5], [0.2]));
        string raw = Checkpoint("raw.ckpt", 3, Mlp, null);
        using var ensemble = Load(Member(same, 9), Member(other, 10), Member(raw, 11));
        Assert.Empty(ensemble.TapNames);
        Assert.Equal([same, other, raw], ensemble.Members.Select(m => m.Path));

        using var scope = NewDisposeScope();
        manual_seed(5);
        var x = randn(6, 1, 4, 4);
        var (logits, taps) = ensemble.ForwardWithTaps(x, []);
        Assert.Empty(taps);
        var expected = (MemberLogits(same, x) + MemberLogits(other, (x * 0.4 + 0.3 - 0.5) / 0.2) + MemberLogits(raw, x * 0.4 + 0.3)) / 3;
        Assert.Equal([6, 3], logits.shape);
        Assert.True((logits - expected).abs().max().item<float>() <= 1e-6, $"max difference {(logits - expected).abs().max().item<float>()}");
        Assert.False(logits.requires_grad);
    }

    [Fact]
    public void Test_figures_are_those_of_the_mean_logits_and_a_cache_holds_the_same_logits()
    {
        string a = Checkpoint("a.ckpt", 1, Cnn, DataNorm);
        string b = Checkpoint("b.ckpt", 2, Mlp, DataNorm);
        using var ensemble = Load(Member(a, 9), Member(b, 10));
        manual_seed(6);
        using var data = new TensorDataset(randn(40, 1, 4, 4), randint(0, 3, [40]));
        using var scope = NewDisposeScope();
        var mean = (MemberLogits(a, data.Features) + MemberLogits(b, data.Features)) / 2;
        double accuracy = mean.argmax(1).eq(data.Labels).sum().item<long>() / 40.0;
        double loss = nn.functional.cross_entropy(mean, data.Labels).item<float>();

        var test = TeacherEvaluation.Evaluate(ensemble, data);
        Assert.Equal(accuracy, test.Accuracy);
        Assert.Equal(loss, test.Loss, 5);

        using var cache = TeacherOutputCache.Build(ensemble, data.Features, [], batchSize: 16);
        var (cached, _) = cache.Lookup([0, 7, 39]);
        Assert.True((cached - mean.index_select(0, tensor(new long[] { 0, 7, 39 }))).abs().max().item<float>() <= 1e-6);
    }

    [Fact]
    public void Taps_are_refused_naming_the_hint_loss()
    {
        using var ensemble = Load(Member(Checkpoint("a.ckpt", 1, Mlp, DataNorm), 9), Member(Checkpoint("b.ckpt", 2, Mlp, DataNorm), 10));
        using var x = zeros(2, 1, 4, 4);
        var error = Assert.Throws<InvalidInputException>(() => ensemble.ForwardWithTaps(x, ["hidden0"]));
        Assert.StartsWith("'hidden0' is not a tap of the teacher: an ensemble of 2 teachers", error.Message);
        Assert.EndsWith("gives the mean of its members' logits and no taps; use loss.kd, not a hint loss", error.Message);
        Assert.Throws<InvalidInputException>(() => ensemble.TapShape("logits"));
    }

    [Fact]
    public void A_member_with_other_classes_is_reported_at_its_recipe_position()
    {
        string good = Checkpoint("good.ckpt", 1, Mlp, DataNorm);
        string four = Checkpoint("four.ckpt", 2, Mlp, DataNorm, classes: 4);
        var error = Assert.Throws<InvalidInputException>(() => Load(Member(good, 9), Member(four, 10)));
        Assert.Equal($"recipe.yaml:10:19: teacher.ensemble[1]: {four}: checkpoint holds an mlp with hidden [16] on input [1, 4, 4] with 4 classes, " +
            "but the data (and the student) have 3 classes: a teacher's logits must be the student's classes", error.Message);
    }

    [Fact]
    public void A_member_with_another_input_shape_is_reported_at_its_recipe_position()
    {
        string flat = Checkpoint("flat.ckpt", 1, Mlp, DataNorm, shape: [16]);
        var error = Assert.Throws<InvalidInputException>(() => Load(Member(flat, 9), Member(Checkpoint("b.ckpt", 2, Mlp, DataNorm), 10)));
        Assert.Equal($"recipe.yaml:9:19: teacher.ensemble[0]: {flat}: checkpoint holds an mlp with hidden [16] on input [16] with 3 classes, " +
            "but the data's samples are [1, 4, 4]: a teacher must take the student's input", error.Message);
    }

    [Fact]
    public void A_file_that_is_no_model_checkpoint_is_reported_at_its_recipe_position()
    {
        string text = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(text, "not a checkpoint");
        var error = Assert.Throws<InvalidInputException>(() => Load(Member(Checkpoint("a.ckpt", 1, Mlp, DataNorm), 9), Member(text, 10)));
        Assert.StartsWith($"recipe.yaml:10:19: teacher.ensemble[1]: {text}", error.Message);
    }
}
