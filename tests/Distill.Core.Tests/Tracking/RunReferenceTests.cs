using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

/// <summary>runs:/&lt;run&gt;/&lt;artifact&gt; in a real store: a name means its newest FINISHED run, hex digits a run id
/// prefix, a full id that run; a hex string that is both is refused rather than guessed.</summary>
public sealed class RunReferenceTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Run(RunStore store, string name, RunStatus status, string content)
    {
        using var tracker = store.StartRun("default", name);
        string file = Path.Combine(_folder.Path, "upload.ckpt");
        File.WriteAllText(file, content);
        tracker.LogArtifact(file, "models/student.ckpt");
        tracker.End(status);
        return tracker.RunId;
    }

    [Fact]
    public void A_name_means_its_newest_finished_run_and_an_id_prefix_its_run()
    {
        using var store = RunStore.Open(_folder.Path);
        string older = Run(store, "digits-kd", RunStatus.Finished, "older");
        Thread.Sleep(5);
        string newer = Run(store, "digits-kd", RunStatus.Finished, "newer");
        Thread.Sleep(5);
        Run(store, "digits-kd", RunStatus.Failed, "failed");

        var byName = store.Resolve(RunReference.Parse("runs:/digits-kd/models/student.ckpt"));
        Assert.Equal(newer, byName.Run.Id);
        Assert.Equal("newer", File.ReadAllText(byName.Path));
        Assert.Equal(Path.Combine(_folder.Path, "artifacts", newer, "models", "student.ckpt"), byName.Path);

        var byId = store.Resolve(RunReference.Parse($"runs:/{older}/models/student.ckpt"));
        Assert.Equal("older", File.ReadAllText(byId.Path));
        // A prefix as long as `runs show` needs to tell the runs apart.
        string prefix = Enumerable.Range(1, 32).Select(n => older[..n]).First(p => !newer.StartsWith(p, StringComparison.Ordinal) && !AnyOther(store, p, older));
        Assert.Equal(older, store.Resolve(RunReference.Parse($"runs:/{prefix}/models/student.ckpt")).Run.Id);
    }

    private static bool AnyOther(RunStore store, string prefix, string id) =>
        store.ListRuns().Any(r => r.Id != id && r.Id.StartsWith(prefix, StringComparison.Ordinal));

    [Fact]
    public void A_hex_name_that_is_also_an_id_prefix_is_refused_and_a_full_id_is_always_an_id()
    {
        string named, other;
        using (var store = RunStore.Open(_folder.Path))
        {
            named = Run(store, "cafe", RunStatus.Finished, "named");
            other = Run(store, "other", RunStatus.Finished, "other");
        }
        // Give the second run an id that starts with the first one's name, as a new run may by chance.
        string cafeId = "cafe" + other[4..];
        _folder.ExecuteSql("PRAGMA foreign_keys = OFF; UPDATE runs SET id = @new WHERE id = @old; UPDATE artifacts SET run_id = @new WHERE run_id = @old;",
            ("@new", cafeId), ("@old", other));
        Directory.Move(Path.Combine(_folder.Path, "artifacts", other), Path.Combine(_folder.Path, "artifacts", cafeId));

        using var reopened = RunStore.Open(_folder.Path);
        var ambiguous = Assert.Throws<InvalidInputException>(() => reopened.Resolve(RunReference.Parse("runs:/cafe/models/student.ckpt")));
        Assert.Contains($"'cafe' in runs:/cafe/models/student.ckpt is both the name of FINISHED run {named} and the start of run id {cafeId}", ambiguous.Message);
        Assert.Equal("other", File.ReadAllText(reopened.Resolve(RunReference.Parse($"runs:/{cafeId}/models/student.ckpt")).Path));
        Assert.Equal("named", File.ReadAllText(reopened.Resolve(RunReference.Parse($"runs:/{named}/models/student.ckpt")).Path));
    }

    [Fact]
    public void A_missing_run_is_not_found_and_says_which_runs_of_that_name_did_not_finish()
    {
        using var store = RunStore.Open(_folder.Path);
        string failed = Run(store, "digits-kd", RunStatus.Failed, "x");
        var missing = Assert.Throws<RunNotFoundException>(() => store.Resolve(RunReference.Parse("runs:/digits-kd/models/student.ckpt")));
        Assert.Equal($"no FINISHED run named digits-kd in store {_folder.Path}; runs of that name that did not finish: {failed} FAILED", missing.Message);
        var prefix = Assert.Throws<RunNotFoundException>(() => store.Resolve(RunReference.Parse("runs:/" + (failed[0] == 'a' ? "b" : "a") + "/models/student.ckpt")));
        Assert.Contains("no run whose id starts with", prefix.Message);
    }

    [Fact]
    public void An_artifact_linked_out_of_the_run_folder_is_refused()
    {
        using var store = RunStore.Open(_folder.Path);
        string id = Run(store, "digits-kd", RunStatus.Finished, "mine");
        string secret = Path.Combine(_folder.Path, "secret.ckpt");
        File.WriteAllText(secret, "not yours");
        string artifact = Path.Combine(_folder.Path, "artifacts", id, "models", "student.ckpt");
        File.Delete(artifact);
        File.CreateSymbolicLink(artifact, secret);

        var refused = Assert.Throws<InvalidInputException>(() => store.Resolve(RunReference.Parse("runs:/digits-kd/models/student.ckpt")));
        Assert.Contains("is a symbolic link, or lies in a linked folder, that leads outside it", refused.Message);
    }

    [Theory]
    [InlineData("runs:/", "needs a run and an artifact path")]
    [InlineData("runs:/digits-kd", "needs a run and an artifact path")]
    [InlineData("runs:/digits-kd/", "needs a run and an artifact path")]
    [InlineData("runs:/digits kd/models/student.ckpt", "is neither a run id nor a run name")]
    [InlineData("runs:/digits-kd/../x.ckpt", "contains a '..' segment")]
    public void Malformed_references_say_what_is_wrong(string text, string problem)
    {
        var error = Assert.Throws<InvalidInputException>(() => RunReference.Parse(text));
        Assert.Contains(problem, error.Message);
    }
}
