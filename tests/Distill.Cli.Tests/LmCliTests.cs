using System.Diagnostics;

namespace Distill.Cli.Tests;

/// <summary>One run of configs/text/lm-tiny.yaml (a byte-level teacher trained in the run, a student distilled
/// from its top-k cache), shared by the tests of <see cref="LmCliTests"/> as the uninterrupted reference.</summary>
public sealed class LmTinyRun : IDisposable
{
    /// <summary>One thread: the same arithmetic in every run of the recipe, however busy the machine is.</summary>
    public static readonly string[] Args = ["train", "configs/text/lm-tiny.yaml", "--json", "--threads", "1"];

    public LmTinyRun()
    {
        Result = CliProcess.Run([.. Args, "--store", Store.Path], TimeSpan.FromMinutes(5));
        Assert.True(Result.ExitCode == 0, Result.ToString());
        Run = new RunJsonView(Result.StdOut);
    }

    public TempDir Store { get; } = new();
    public CliResult Result { get; }
    public RunJsonView Run { get; }

    public string Artifact(string relative) => Path.Combine(Store.Path, "artifacts", Run.Id, relative);

    public void Dispose() => Store.Dispose();
}

/// <summary>Language models from the command line: a tracked KD run, resume after a crash, generation and
/// evaluation of its checkpoints.</summary>
public sealed class LmCliTests(LmTinyRun tiny) : IClassFixture<LmTinyRun>
{
    /// <summary>Uniform guessing over 256 byte values is 8 bits per byte; English letter frequencies alone give about
    /// 4.5. The tiny student (22 k parameters, 48 steps) must at least learn those.</summary>
    private const double StudentBitsPerByteFloor = 4.8;

    private static readonly string[] FinalMetrics =
    [
        "teacher/val_bpb", "teacher/val_cross_entropy", "teacher/perplexity", "student/val_bpb", "student/val_cross_entropy",
        "student/perplexity", "train/loss", "val/bits_per_byte", "val/cross_entropy", "teacher/train/loss",
    ];

    [Fact]
    public void Kd_run_is_tracked_and_the_student_learns_the_corpus()
    {
        var run = tiny.Run;
        Assert.Equal("FINISHED", run.Status);
        Assert.True(run.Metric("student/val_bpb") < StudentBitsPerByteFloor, $"student {run.Metric("student/val_bpb")} bits/byte");
        Assert.True(run.Metric("teacher/val_bpb") < StudentBitsPerByteFloor, $"teacher {run.Metric("teacher/val_bpb")} bits/byte");
        Assert.Equal(Math.Exp(run.Metric("student/val_cross_entropy")), run.Metric("student/perplexity"), 6);
        // Byte tokens: bits per byte is the cross-entropy in bits.
        Assert.Equal(run.Metric("student/val_cross_entropy") / Math.Log(2), run.Metric("student/val_bpb"), 6);
        Assert.True(run.Metric("student/params") * 4 <= run.Metric("teacher/params"));
        Assert.Equal(run.Metric("student/val_bpb"), run.Metric("val/bits_per_byte"));
        Assert.Equal(run.Metric("teacher/val_bpb"), run.Metric("teacher/val/bits_per_byte"));
        foreach (var artifact in new[] { "models/teacher.ckpt", "models/student.ckpt", "checkpoints/last.ckpt", "recipe.yaml", "logs/run.jsonl" })
        {
            Assert.Contains(artifact, run.Artifacts);
            Assert.True(File.Exists(tiny.Artifact(artifact)), artifact);
        }
        Assert.Equal("transformer-lm", run.Param("student.model.arch"));
        Assert.Equal("16", run.Param("stages.0.loss.teacher_cache.top_k"));
        Assert.Equal("byte (256 tokens)", run.Tag("data.tokenizer"));

        // The top-k cache: 16 int16 indices + 16 float32 values + one float32 tail per position, against 256 float32 logits.
        long cacheBytes = long.Parse(run.Tag("distil.teacher_cache_bytes")!, System.Globalization.CultureInfo.InvariantCulture);
        long fullBytes = long.Parse(run.Tag("distil.teacher_cache_full_logits_bytes")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(512L * 32 * 256 * 4, fullBytes);
        Assert.Equal(512L * 32 * (16 * 2 + 16 * 4 + 4), cacheBytes);
        Assert.True(double.Parse(run.Tag("distil.teacher_cache_build_seconds")!, System.Globalization.CultureInfo.InvariantCulture) > 0);

        // The recipe's export list: the student written to ONNX, verified in ONNX Runtime on the same validation
        // windows. fp32 in ONNX Runtime and in TorchSharp differ only by float rounding.
        foreach (var artifact in new[] { "exports/onnx-fp32/model.onnx", "exports/onnx-fp32/model_card.json" })
            Assert.True(File.Exists(tiny.Artifact(artifact)), artifact);
        Assert.Equal(run.Metric("student/val_bpb"), run.Metric("export/onnx-fp32/val_bpb"), 3);
        Assert.True(run.Metric("export/onnx-fp32/agreement") >= 0.99, $"agreement {run.Metric("export/onnx-fp32/agreement")}");
        Assert.True(run.Metric("export/onnx-fp32/tokens_per_second") > 0);

        // One child run per phase, each finished, with the phase's own metrics.
        var shown = CliProcess.Run("runs", "show", run.Id, "--store", tiny.Store.Path);
        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.Matches(@"teacher\s+[0-9a-f]{8}\s+FINISHED", shown.StdOut);
        Assert.Matches(@"distil\s+[0-9a-f]{8}\s+FINISHED", shown.StdOut);
    }

    [Fact]
    public void Run_killed_during_training_resumes_to_the_uninterrupted_result()
    {
        using var store = new TempDir();
        string? checkpoint = null;
        using (var process = Process.Start(CliProcess.StartInfo([.. LmTinyRun.Args, "--store", store.Path]))!)
        {
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var artifacts = Path.Combine(store.Path, "artifacts");
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (checkpoint is null && DateTime.UtcNow < deadline && !process.HasExited)
            {
                checkpoint = Directory.Exists(artifacts)
                    ? Directory.EnumerateFiles(artifacts, "last.ckpt", SearchOption.AllDirectories).FirstOrDefault()
                    : null;
                if (checkpoint is null)
                    Thread.Sleep(10);
            }
            Assert.False(process.HasExited, "the run ended before it could be interrupted");
            Assert.NotNull(checkpoint);
            process.Kill();
            process.WaitForExit();
        }
        // artifacts/<run id>/checkpoints/last.ckpt
        var runId = new DirectoryInfo(Path.GetDirectoryName(checkpoint!)!).Parent!.Name;
        Assert.Equal("FAILED", new RunJsonView(CliProcess.Run("runs", "show", runId, "--store", store.Path, "--json").StdOut).Status);

        var resumed = CliProcess.Run(["train", "--resume", runId, "--store", store.Path, "--json", "--threads", "1"], TimeSpan.FromMinutes(5));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var actual = new RunJsonView(resumed.StdOut);
        Assert.Equal(("FINISHED", runId), (actual.Status, actual.Id));
        foreach (var key in FinalMetrics)
            Assert.True(tiny.Run.Metric(key) == actual.Metric(key), $"{key}: uninterrupted {tiny.Run.Metric(key)}, resumed {actual.Metric(key)}");
    }

    [Fact]
    public void Generation_with_a_seed_repeats_and_greedy_decoding_is_deterministic()
    {
        string student = tiny.Artifact("models/student.ckpt");
        string[] sampled = ["generate", student, "--prompt", "It is a truth", "--max-tokens", "40", "--temperature", "0.8", "--top-k", "20", "--seed", "5"];
        var first = CliProcess.Run(sampled);
        var second = CliProcess.Run(sampled);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.StartsWith("It is a truth", first.StdOut);
        Assert.True(first.StdOut.Length > "It is a truth".Length, first.ToString());
        Assert.Equal(first.StdOut, second.StdOut);
        Assert.Matches(@"40 tokens in [0-9.]+ s: [0-9.]+ tokens/s", first.StdErr);
        var otherSeed = CliProcess.Run([.. sampled[..^1], "6"]);
        Assert.NotEqual(first.StdOut, otherSeed.StdOut);

        string[] greedy = ["generate", tiny.Artifact("models/teacher.ckpt"), "--prompt", "Mr. Darcy", "--max-tokens", "30", "--temperature", "0", "--json"];
        var a = System.Text.Json.JsonDocument.Parse(CliProcess.Run(greedy).StdOut).RootElement;
        var b = System.Text.Json.JsonDocument.Parse(CliProcess.Run([.. greedy, "--seed", "99"]).StdOut).RootElement;
        Assert.Equal(a.GetProperty("text").GetString(), b.GetProperty("text").GetString());
        Assert.Equal(30, a.GetProperty("tokens").GetInt32());
        Assert.True(a.GetProperty("tokens_per_second").GetDouble() > 0);
    }

    [Fact]
    public void Speculative_generation_with_the_exported_student_as_draft_gives_the_teachers_greedy_text()
    {
        // 9 prompt tokens and 60 new ones run past the 32-token context, so both ways of checking a draft are used.
        string[] greedy = ["generate", tiny.Artifact("models/teacher.ckpt"), "--prompt", "Mr. Darcy", "--max-tokens", "60", "--temperature", "0", "--json"];
        var plain = CliProcess.Run(greedy);
        var speculative = CliProcess.Run([.. greedy, "--draft", tiny.Artifact("exports/onnx-fp32/model.onnx"), "--draft-tokens", "3"]);
        Assert.True(speculative.ExitCode == 0, speculative.ToString());
        var a = System.Text.Json.JsonDocument.Parse(plain.StdOut).RootElement;
        var b = System.Text.Json.JsonDocument.Parse(speculative.StdOut).RootElement;
        Assert.Equal(a.GetProperty("text").GetString(), b.GetProperty("text").GetString());
        Assert.Equal(3, b.GetProperty("draft_tokens").GetInt32());
        double rate = b.GetProperty("acceptance_rate").GetDouble();
        Assert.InRange(rate, 0, 1);
        Assert.Equal(b.GetProperty("accepted").GetInt32(), (int)Math.Round(rate * b.GetProperty("proposed").GetInt32()));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, a.GetProperty("acceptance_rate").ValueKind);

        var text = CliProcess.Run([.. greedy[..^1], "--draft", tiny.Artifact("models/student.ckpt")]);
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Matches(@"draft .*student\.ckpt \(byte, [0-9,]+ parameters\): [0-9]+ of [0-9]+ proposed tokens accepted \([0-9.]+ ?%\); [0-9]+ passes of the model, [0-9]+ of the draft", text.StdErr);
    }

    [Fact]
    public void Eval_of_a_language_model_reports_the_runs_validation_figures()
    {
        var result = CliProcess.Run("eval", tiny.Artifact("models/student.ckpt"), "--data", "configs/text/lm-tiny.yaml", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var json = System.Text.Json.JsonDocument.Parse(result.StdOut).RootElement;
        Assert.Equal(128 * 32, json.GetProperty("tokens").GetInt64());
        Assert.Equal(tiny.Run.Metric("student/val_bpb"), json.GetProperty("bits_per_byte").GetDouble(), 4);
        Assert.Equal(tiny.Run.Metric("student/perplexity"), json.GetProperty("perplexity").GetDouble(), 3);
        Assert.Equal(tiny.Run.Metric("student/val_cross_entropy"), json.GetProperty("cross_entropy").GetDouble(), 4);
    }

    [Fact]
    public void Generation_refuses_a_prompt_longer_than_the_context_and_a_checkpoint_that_is_not_a_language_model()
    {
        var tooLong = CliProcess.Run("generate", tiny.Artifact("models/student.ckpt"), "--prompt", new string('a', 33));
        Assert.Equal(2, tooLong.ExitCode);
        Assert.Contains("prompt: 33 tokens is longer than the model's context of 32 tokens", tooLong.StdErr);
        Assert.Equal("", tooLong.StdOut);

        string training = tiny.Artifact("checkpoints/last.ckpt");
        var notLm = CliProcess.Run("generate", training, "--prompt", "a");
        Assert.Equal(2, notLm.ExitCode);
        Assert.Contains($"{training}: not a language-model checkpoint", notLm.StdErr);

        string digits = Path.Combine(CliProcess.RepoRoot, "data", "digits", "digits.csv.gz");
        var notCheckpoint = CliProcess.Run("generate", digits, "--prompt", "a");
        Assert.Equal(2, notCheckpoint.ExitCode);
        Assert.Contains($"{digits}: not a Distill checkpoint", notCheckpoint.StdErr);
    }
}
