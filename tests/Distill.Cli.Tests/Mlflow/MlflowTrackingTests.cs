using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Distill.Core.Tracking;

namespace Distill.Cli.Tests.Mlflow;

/// <summary>`distill train` and `distill runs sync` against a real HTTP server on loopback that speaks MLflow's REST API.</summary>
public sealed class MlflowTrackingTests
{
    private const string DigitsRecipe = "configs/digits/kd.yaml";

    private static Dictionary<string, string> Env(params (string Name, string Value)[] variables) =>
        variables.ToDictionary(v => v.Name, v => v.Value);

    [Fact]
    public void Digits_run_and_its_phase_runs_arrive_on_a_server_that_applies_MLflow_rules_with_everything_and_no_400()
    {
        using var server = new FakeMlflowServer { RequiredAuthorization = FakeMlflowServer.Basic("alice", "s3cret") };
        using var store = new TempDir();
        var result = CliWithEnvironment.Run(Env(("MLFLOW_TRACKING_USERNAME", "alice"), ("MLFLOW_TRACKING_PASSWORD", "s3cret")),
            "train", DigitsRecipe, "--store", store.Path, "--json", "--tracking-uri", server.Uri,
            "--set", "stages[0].batch_size=32", "--set", "export=[{target: onnx-fp32}]");
        Assert.True(result.ExitCode == 0, result.ToString());
        string runId = new RunJsonView(result.StdOut).Id;

        // Every request answered 2xx (the one 404 is the lookup of an experiment that does not exist yet).
        Assert.DoesNotContain(server.Requests, r => r.Status >= 400 && !r.Path.EndsWith("get-by-name", StringComparison.Ordinal));
        Assert.DoesNotContain("refused", result.StdErr);

        var remote = Assert.Single(TopLevel(server));
        Assert.Contains(remote.Id, result.StdErr);
        Assert.Equal("default", server.ExperimentName(remote.ExperimentId));
        Assert.Equal("digits-kd", remote.Name);
        Assert.Equal("Optical digits, MLP teacher and a small distilled MLP student", remote.Tags["mlflow.note.content"]);
        Assert.Equal("32", remote.Params["stages.0.batch_size"]);
        Assert.Equal("onnx-fp32", remote.Params["export.0.target"]);

        using var local = RunStore.Open(store.Path);
        var run = local.GetRun(runId);
        int points = AssertSameRun(local, run, remote);
        Assert.True(points > 1000, $"only {points} metric points; the run must need several batches");

        // One child run per phase, live like the parent, nested under it.
        var children = local.GetChildRuns(runId);
        Assert.Equal(["teacher", "distil"], children.Select(c => c.Name));
        var remoteChildren = server.Runs.Where(r => r.Tags.GetValueOrDefault("mlflow.parentRunId") == remote.Id).ToList();
        Assert.Equal(2, remoteChildren.Count);
        foreach (var child in children)
        {
            var remoteChild = Assert.Single(remoteChildren, r => r.Tags["distill.run_id"] == child.Id);
            Assert.Equal(child.Name, remoteChild.Name);
            Assert.Equal(remote.ExperimentId, remoteChild.ExperimentId);
            Assert.True(AssertSameRun(local, child, remoteChild) > 0);
        }
        Assert.Equal("32", remoteChildren.Single(r => r.Name == "distil").Params["stages.0.batch_size"]);
        Assert.DoesNotContain(remoteChildren.Single(r => r.Name == "teacher").Params.Keys, k => k.StartsWith("stages.", StringComparison.Ordinal));

        var batches = server.Requests.Where(r => r.Path.EndsWith("/runs/log-batch", StringComparison.Ordinal)).ToList();
        Assert.True(batches.Count >= 2, $"{batches.Count} log-batch requests");
        foreach (var batch in batches)
        {
            using var body = JsonDocument.Parse(batch.Body);
            int metrics = body.RootElement.GetProperty("metrics").GetArrayLength();
            int parameters = body.RootElement.GetProperty("params").GetArrayLength();
            int tags = body.RootElement.GetProperty("tags").GetArrayLength();
            Assert.True(metrics <= 1000 && parameters <= 100 && tags <= 100 && metrics + parameters + tags <= 1000,
                $"batch of {metrics} metrics, {parameters} params, {tags} tags");
        }

        foreach (string artifact in run.Artifacts)
        {
            var bytes = server.Artifact($"{remote.ExperimentId}/{remote.Id}/artifacts/{artifact}");
            Assert.True(bytes is not null, $"artifact {artifact} not uploaded; uploaded: {string.Join(", ", server.ArtifactPaths)}");
            Assert.Equal(File.ReadAllBytes(local.ResolveArtifact(runId, artifact)), bytes);
        }
        Assert.All(server.Requests, r => Assert.Equal(FakeMlflowServer.Basic("alice", "s3cret"), r.Authorization));
    }

    /// <summary>The remote run has the local run's status, times, params, tags and every metric point; returns the number of points.</summary>
    private static int AssertSameRun(RunStore local, RunRecord run, FakeMlflowServer.Run remote)
    {
        Assert.Equal(run.Status.ToString().ToUpperInvariant(), remote.Status);
        Assert.Equal(run.StartTime.ToUnixTimeMilliseconds(), remote.StartTime);
        Assert.Equal(run.EndTime!.Value.ToUnixTimeMilliseconds(), remote.EndTime);
        Assert.Equal(run.Params.OrderBy(p => p.Key), remote.Params.OrderBy(p => p.Key));
        foreach (var (key, value) in run.Tags)
            Assert.Equal(value, remote.Tags[key]);
        Assert.Equal(run.Name, remote.Tags["mlflow.runName"]);
        Assert.Equal(Environment.UserName, remote.Tags["mlflow.user"]);
        Assert.Equal("distill", remote.Tags["mlflow.source.name"]);
        Assert.Equal("LOCAL", remote.Tags["mlflow.source.type"]);
        Assert.Equal(run.Id, remote.Tags["distill.run_id"]);
        int points = 0;
        foreach (string key in run.Metrics.Keys)
        {
            var history = local.GetMetricHistory(run.Id, key);
            var sent = remote.Metrics.Where(m => m.Key == key).OrderBy(m => m.Step).ThenBy(m => m.Timestamp).ToList();
            Assert.Equal(history.Select(p => (p.Step, p.Value, p.Timestamp.ToUnixTimeMilliseconds())), sent.Select(m => (m.Step, m.Value, m.Timestamp)));
            points += history.Count;
        }
        Assert.Equal(points, remote.Metrics.Count);
        return points;
    }

    [Fact]
    public void Server_down_the_run_finishes_locally_then_sync_sends_everything_once()
    {
        int port = FakeMlflowServer.FreePort();
        string uri = $"http://127.0.0.1:{port}";
        using var store = new TempDir();
        var result = CliWithEnvironment.Run(Env(("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")),
            "train", DigitsRecipe, "--store", store.Path, "--json", "--tracking-uri", uri,
            "--set", "teacher.train.epochs=2", "--set", "stages[0].epochs=2");
        Assert.True(result.ExitCode == 0, result.ToString());
        var local = new RunJsonView(result.StdOut);
        Assert.Equal("FINISHED", local.Status);
        Assert.Contains("cannot be reached", result.StdErr);
        Assert.Contains($"distill runs sync {local.Id} --to {uri}", result.StdErr);

        using var server = new FakeMlflowServer(port);
        // Naming the recipe run sends its phase runs too.
        var sync = CliWithEnvironment.Run("runs", "sync", local.Id[..8], "--store", store.Path, "--to", uri, "--json");
        Assert.True(sync.ExitCode == 0, sync.ToString());
        var remote = Assert.Single(TopLevel(server));
        Assert.Equal("FINISHED", remote.Status);
        Assert.Equal(local.Id, remote.Tags["distill.run_id"]);
        using (var store2 = RunStore.Open(store.Path))
        {
            var run = store2.GetRun(local.Id);
            Assert.Equal(run.Metrics.Keys.Sum(k => store2.GetMetricHistory(run.Id, k).Count), remote.Metrics.Count);
            Assert.Equal(run.Params.Count, remote.Params.Count);
            Assert.Equal(run.Artifacts.Count, server.ArtifactPaths.Count);
        }
        using (var report = JsonDocument.Parse(sync.StdOut))
        {
            var rows = report.RootElement.GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(3, rows.Count); // the recipe run and its two phase runs
            var row = Assert.Single(rows, r => r.GetProperty("run_id").GetString() == local.Id);
            Assert.True(row.GetProperty("created").GetBoolean());
            Assert.Equal(remote.Metrics.Count, row.GetProperty("metrics").GetInt32());
            Assert.Equal("FINISHED", row.GetProperty("status").GetString());
        }

        int requestsBefore = server.Requests.Count;
        var again = CliWithEnvironment.Run("runs", "sync", "--store", store.Path, "--to", uri);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(requestsBefore, server.Requests.Count);
        Assert.Single(TopLevel(server));
        Assert.Contains("0 updated", again.StdOut);
    }

    [Fact]
    public void Wrong_credentials_warn_naming_401_and_keep_the_run_locally()
    {
        using var server = new FakeMlflowServer { RequiredAuthorization = "Bearer right-token" };
        using var store = new TempDir();
        var result = CliWithEnvironment.Run(Env(("MLFLOW_TRACKING_URI", server.Uri), ("MLFLOW_TRACKING_TOKEN", "wrong-token")),
            "train", DigitsRecipe, "--store", store.Path, "--json", "--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=1");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("refused the credentials", result.StdErr);
        Assert.Contains("HTTP 401", result.StdErr);
        Assert.Equal("FINISHED", new RunJsonView(result.StdOut).Status);
        Assert.Empty(server.Runs);
        Assert.All(server.Requests, r => Assert.Equal(401, r.Status));
        Assert.All(server.Requests, r => Assert.Equal("Bearer wrong-token", r.Authorization));

        // With the right token, sync sends the run.
        var sync = CliWithEnvironment.Run(Env(("MLFLOW_TRACKING_URI", server.Uri), ("MLFLOW_TRACKING_TOKEN", "right-token")),
            "runs", "sync", "--store", store.Path);
        Assert.True(sync.ExitCode == 0, sync.ToString());
        Assert.Equal("FINISHED", Assert.Single(TopLevel(server)).Status);
    }

    [Fact]
    public void Diverging_run_ends_FAILED_on_the_server_with_its_error()
    {
        using var server = new FakeMlflowServer();
        using var store = new TempDir();
        var result = CliWithEnvironment.Run("train", DigitsRecipe, "--store", store.Path,
            "--set", $"tracking.uri={server.Uri}", "--set", "tracking.experiment=divergence",
            "--set", "teacher.train.epochs=1", "--set", "stages[0].optimizer.name=sgd", "--set", "stages[0].optimizer.lr=1e30");
        Assert.True(result.ExitCode == 1, result.ToString());
        var remote = Assert.Single(TopLevel(server));
        Assert.Equal("FAILED", remote.Status);
        Assert.NotNull(remote.EndTime);
        Assert.Equal("divergence", server.ExperimentName(remote.ExperimentId));
        Assert.Contains("stage 'distil'", remote.Tags["error"]);
    }

    [Fact]
    public void Sigterm_ends_the_run_KILLED_on_the_server()
    {
        using var server = new FakeMlflowServer();
        using var store = new TempDir();
        var info = CliProcess.StartInfo(["train", DigitsRecipe, "--store", store.Path, "--tracking-uri", server.Uri,
            "--set", "teacher.train.epochs=200", "--set", "stages[0].epochs=200"]);
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!server.Requests.Any(r => r.Path.EndsWith("/runs/log-batch", StringComparison.Ordinal)) && DateTime.UtcNow < deadline && !process.HasExited)
            Thread.Sleep(50);
        Assert.False(process.HasExited, "the run ended before it could be interrupted");
        var running = Assert.Single(TopLevel(server));
        Assert.Equal("RUNNING", running.Status);

        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "distill did not stop on SIGTERM");
        Assert.Equal(130, process.ExitCode);
        var remote = Assert.Single(TopLevel(server));
        Assert.Equal("KILLED", remote.Status);
        Assert.NotNull(remote.EndTime);
    }

    [Fact]
    public void Run_killed_with_sigkill_and_resumed_ends_on_the_server_as_one_run_with_its_phase_runs_and_no_400()
    {
        using var server = new FakeMlflowServer();
        using var store = new TempDir();
        var info = CliProcess.StartInfo(["train", DigitsRecipe, "--store", store.Path, "--tracking-uri", server.Uri,
            "--set", "teacher.train.epochs=3", "--set", "stages[0].epochs=20", "--set", "stages[0].batch_size=8"]);
        using (var process = Process.Start(info)!)
        {
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            // Kill it once the distil phase is live on the server with a few epochs. Its epochs are slowed down by small
            // batches (8): the tracker sends every 2 s, and with batches of 64 the 20 epochs on an idle machine finished
            // before a second pass reached the server.
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (!process.HasExited && DateTime.UtcNow < deadline
                && !server.Runs.Any(r => r.Name == "distil" && r.Metrics.Count(m => m.Key == "val/acc") >= 2))
                Thread.Sleep(50);
            Assert.False(process.HasExited, "the run ended before it could be killed");
            process.Kill();
            process.WaitForExit();
        }
        var parent = Assert.Single(TopLevel(server));
        Assert.Equal("RUNNING", parent.Status);
        string runId = parent.Tags["distill.run_id"];

        var resume = CliWithEnvironment.Run("train", "--resume", runId[..8], "--store", store.Path, "--tracking-uri", server.Uri);
        Assert.True(resume.ExitCode == 0, resume.ToString());

        Assert.DoesNotContain(server.Requests, r => r.Status >= 400 && !r.Path.EndsWith("get-by-name", StringComparison.Ordinal));
        using var local = RunStore.Open(store.Path);
        var runs = new[] { local.GetRun(runId) }.Concat(local.GetChildRuns(runId)).ToList();
        Assert.Equal(["digits-kd", "teacher", "distil"], runs.Select(r => r.Name));
        Assert.Equal(3, server.Runs.Count); // the resumed run and its resumed phase run went on where they were
        foreach (var run in runs)
        {
            var remote = Assert.Single(server.Runs, r => r.Tags["distill.run_id"] == run.Id);
            Assert.Equal(RunStatus.Finished, run.Status);
            Assert.Equal("FINISHED", remote.Status);
            Assert.Equal(run.EndTime!.Value.ToUnixTimeMilliseconds(), remote.EndTime);
            Assert.Equal(run.Params.OrderBy(p => p.Key), remote.Params.OrderBy(p => p.Key));
            // Every point of the store is on the server. The server also keeps what the killed process sent after its
            // last checkpoint (MLflow cannot delete points); the resume dropped those rows and redid the epochs, so each
            // such point is a store point again, the same step and value, only logged at another time.
            foreach (string key in run.Metrics.Keys)
            {
                var history = local.GetMetricHistory(run.Id, key).Select(p => (p.Step, p.Value, p.Timestamp.ToUnixTimeMilliseconds())).ToHashSet();
                var sent = remote.Metrics.Where(m => m.Key == key).Select(m => (m.Step, m.Value, m.Timestamp)).ToHashSet();
                Assert.True(history.IsSubsetOf(sent), $"{run.Name} {key}: {history.Except(sent).Count()} of {history.Count} store points not on the server");
                var redone = history.Select(p => (p.Step, p.Value)).ToHashSet();
                Assert.All(sent.Except(history), extra => Assert.Contains((extra.Step, extra.Value), redone));
            }
        }
    }

    [Fact]
    public void Bad_tracking_uri_exits_2()
    {
        var flag = CliWithEnvironment.Run("train", DigitsRecipe, "--tracking-uri", "ftp://example.org");
        Assert.True(flag.ExitCode == 2, flag.ToString());
        Assert.Contains("--tracking-uri: 'ftp://example.org' is not an http(s) URL", flag.StdErr);

        var recipe = CliWithEnvironment.Run("train", DigitsRecipe, "--set", "tracking.uri=localhost:5000");
        Assert.True(recipe.ExitCode == 2, recipe.ToString());
        Assert.Contains("tracking.uri", recipe.StdErr);

        using var store = new TempDir();
        var sync = CliWithEnvironment.Run("runs", "sync", "--store", store.Path);
        Assert.True(sync.ExitCode == 2, sync.ToString());
        Assert.Contains("no MLflow server to sync with", sync.StdErr);
    }

    [Fact]
    public void Sync_to_an_unreachable_server_fails_with_exit_1_and_keeps_nothing_half_recorded()
    {
        using var store = new TempDir();
        var train = CliWithEnvironment.Run("train", DigitsRecipe, "--store", store.Path, "--json",
            "--set", "teacher.train.epochs=1", "--set", "stages[0].epochs=1");
        Assert.True(train.ExitCode == 0, train.ToString());
        int port = FakeMlflowServer.FreePort();
        var sync = CliWithEnvironment.Run(Env(("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")), "runs", "sync", "--store", store.Path, "--to", $"http://127.0.0.1:{port}");
        Assert.True(sync.ExitCode == 1, sync.ToString());
        Assert.Contains("unreachable", sync.StdErr);

        using var server = new FakeMlflowServer(port);
        var retry = CliWithEnvironment.Run("runs", "sync", "--store", store.Path, "--to", server.Uri);
        Assert.True(retry.ExitCode == 0, retry.ToString());
        Assert.Equal("FINISHED", Assert.Single(TopLevel(server)).Status);
    }

    /// <summary>Recipe runs on the server; their phase runs carry mlflow.parentRunId.</summary>
    private static List<FakeMlflowServer.Run> TopLevel(FakeMlflowServer server) =>
        server.Runs.Where(r => !r.Tags.ContainsKey("mlflow.parentRunId")).ToList();
}
