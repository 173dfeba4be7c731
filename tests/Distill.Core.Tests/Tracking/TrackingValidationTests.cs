using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

public sealed class TrackingValidationTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("reports/../../escape.txt")]
    [InlineData("..\\escape.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("C:/Windows/x.txt")]
    [InlineData("a\nb.txt")]
    [InlineData("")]
    public void ArtifactPathsThatCouldEscapeOrAreMalformed_AreRejected(string artifactPath)
    {
        string source = Path.Combine(_folder.Path, "source.txt");
        File.WriteAllText(source, "x");
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");

        var error = Assert.Throws<InvalidInputException>(() => tracker.LogArtifact(source, artifactPath));
        Assert.Contains("invalid artifact path", error.Message);
        Assert.Throws<InvalidInputException>(() => tracker.RegisterArtifact(artifactPath));
        Assert.Throws<InvalidInputException>(() => store.ResolveArtifact(tracker.RunId, artifactPath));
        Assert.False(File.Exists(Path.Combine(_folder.Path, "artifacts", "escape.txt")));
        Assert.False(File.Exists(Path.Combine(_folder.Path, "escape.txt")));
        tracker.End(RunStatus.Finished);
        Assert.Empty(store.GetRun(tracker.RunId).Artifacts);
    }

    [Fact]
    public void KeyWithAControlCharacter_IsRejectedNamingTheKey()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");

        var metric = Assert.Throws<InvalidInputException>(() => tracker.LogMetric("loss\u0007", 1.0, 0));
        Assert.Contains("metric key 'loss\\u0007'", metric.Message);
        Assert.Contains("control character", metric.Message);
        Assert.Throws<InvalidInputException>(() => tracker.SetTag("note\ttab", "v"));
        Assert.Throws<InvalidInputException>(() => tracker.LogParams(new Dictionary<string, string> { ["lr\n"] = "0.1" }));
        tracker.End(RunStatus.Finished);

        var run = store.GetRun(tracker.RunId);
        Assert.Empty(run.Metrics);
        Assert.Empty(run.Tags);
        Assert.Empty(run.Params);
    }

    // MLflow's name rule (validation.py): ^[/\w.\- ]*$, and the name must be its own normalised path.
    [Theory]
    [InlineData("/leading-slash", "starts with '/'")]
    [InlineData("trailing/", "ends with '/'")]
    [InlineData("a/../b", "'..' path segment")]
    [InlineData("a//b", "empty, '.' or '..' path segment")]
    [InlineData("a/./b", "empty, '.' or '..' path segment")]
    [InlineData("..hidden", "starts with '..'")]
    [InlineData("stages[0].epochs", "characters other than")]
    [InlineData("export:onnx/size_bytes", "characters other than")]
    [InlineData("semi;colon", "characters other than")]
    [InlineData("quote'd", "characters other than")]
    [InlineData("ümlaut", "characters other than")]
    public void KeysMlflowWouldRefuse_AreRejectedNamingTheKeyAndTheRule(string key, string rule)
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");

        var tag = Assert.Throws<InvalidInputException>(() => tracker.SetTag(key, "v"));
        Assert.Contains($"invalid tag key '{key}'", tag.Message);
        Assert.Contains(rule, tag.Message);
        Assert.Throws<InvalidInputException>(() => tracker.LogMetric(key, 1, 0));
        Assert.Throws<InvalidInputException>(() => tracker.LogParams(new Dictionary<string, string> { [key] = "1" }));
        tracker.End(RunStatus.Finished);
        var run = store.GetRun(tracker.RunId);
        Assert.Empty(run.Tags);
        Assert.Empty(run.Metrics);
        Assert.Empty(run.Params);
    }

    [Fact]
    public void KeysWithDotsSlashesDashesAndSpaces_AreAccepted()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        string[] keys = ["stages.0.optimizer.lr", "val/top-1 accuracy", "export/onnx-x86/size_bytes", "a..b", "name.", new string('k', 250)];
        tracker.LogParams(keys.ToDictionary(k => k, _ => "1"));
        tracker.End(RunStatus.Finished);

        Assert.Equal(keys.Order(StringComparer.Ordinal), store.GetRun(tracker.RunId).Params.Keys.Order(StringComparer.Ordinal));
        Assert.Throws<InvalidInputException>(() => TrackingNames.ValidateKey("param", new string('k', 251)));
    }

    [Fact]
    public void OverlongValues_AreRejectedNotTruncated()
    {
        using var store = RunStore.Open(_folder.Path);
        using var tracker = store.StartRun("exp", "run");
        tracker.LogParams(new Dictionary<string, string> { ["fits"] = new string('p', 6000) });
        tracker.SetTag("fits", new string('t', 8000));

        var param = Assert.Throws<InvalidInputException>(() => tracker.LogParams(new Dictionary<string, string> { ["recipe"] = new string('p', 6001) }));
        Assert.Contains("'recipe'", param.Message);
        Assert.Contains("6001", param.Message);
        Assert.Throws<InvalidInputException>(() => tracker.SetTag("notes", new string('t', 8001)));

        // The end-of-run error must never stop a run from ending, so it is shortened instead.
        tracker.End(RunStatus.Failed, new string('e', 20_000));
        var run = store.GetRun(tracker.RunId);
        Assert.False(run.Params.ContainsKey("recipe"));
        Assert.False(run.Tags.ContainsKey("notes"));
        Assert.Equal(8000, run.Tags["error"].Length);
        Assert.Equal(RunStatus.Failed, run.Status);
    }

    [Fact]
    public void BadNames_AreRejected()
    {
        using var store = RunStore.Open(_folder.Path);

        Assert.Throws<InvalidInputException>(() => store.StartRun(" ", "run"));
        Assert.Throws<InvalidInputException>(() => store.StartRun("exp", "a\u0000b"));
        Assert.Throws<InvalidInputException>(() => store.StartRun("exp", "child", parentRunId: "0123456789abcdef0123456789abcdef"));
        Assert.Empty(store.ListRuns());
    }
}
