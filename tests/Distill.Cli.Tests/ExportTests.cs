using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;

namespace Distill.Cli.Tests;

/// <summary>One digits run (configs/digits/kd.yaml as shipped, shortened, with an export list), shared by the tests.</summary>
public sealed class ExportedRunFixture : IDisposable
{
    public ExportedRunFixture()
    {
        Store = new TempDir();
        Recipe = Path.Combine(CliProcess.RepoRoot, "configs", "digits", "kd.yaml");
        Train = CliProcess.Run(["train", Recipe, "--json", "--store", Store.Path, "--set", "teacher.train.epochs=3", "--set", "stages[0].epochs=4",
                "--set", "export=[{ target: x86-vnni, latency_runs: 25 }, { target: arm-cortex-a }]"],
            TimeSpan.FromMinutes(5));
        Assert.True(Train.ExitCode == 0, Train.ToString());
        Run = new RunJsonView(Train.StdOut);
    }

    public TempDir Store { get; }
    public string Recipe { get; }
    public CliResult Train { get; }
    public RunJsonView Run { get; }

    public string ExportFile(string target, string file) => Path.Combine(Store.Path, "artifacts", Run.Id, "exports", target, file);

    public void Dispose() => Store.Dispose();
}

/// <summary>`distill export`, `distill targets list`, `distill eval` of exported files and the recipe's export
/// list, end to end through the real program, ONNX Runtime, the ONNX checker and Arm NN.</summary>
public sealed class ExportTests(ExportedRunFixture fixture) : IClassFixture<ExportedRunFixture>
{
    [Fact]
    public void Recipe_exports_are_recorded_with_artifacts_metrics_and_a_model_card()
    {
        var run = fixture.Run;
        Assert.Equal("FINISHED", run.Status);
        foreach (var (target, file) in new[] { ("x86-vnni", "model.onnx"), ("arm-cortex-a", "model.tflite") })
        {
            Assert.Contains($"exports/{target}/{file}", run.Artifacts);
            Assert.Contains($"exports/{target}/model_card.json", run.Artifacts);
            Assert.Equal(new FileInfo(fixture.ExportFile(target, file)).Length, run.Metric($"export/{target}/size_bytes"));
            Assert.True(run.Metric($"export/{target}/test_acc") > 0.85, $"{target}: accuracy {run.Metric($"export/{target}/test_acc")}");
            Assert.True(run.Metric($"export/{target}/agreement") >= 0.99);
            Assert.Equal(1, run.Metric($"export/{target}/verified"));
            Assert.True(run.Metric($"export/{target}/latency_ms_b1") > 0);
        }
        Assert.True(run.Metric("export/x86-vnni/latency_ms_b64") > 0);
        // Energy per inference where the latency is measured in ONNX Runtime, with its method (no RAPL here); Arm NN's
        // latency is a child process's, so no energy is claimed for it. The training's energy is recorded too.
        Assert.True(run.Metric("export/x86-vnni/energy_mj_per_inference") > 0);
        Assert.Equal("estimated:cpu-time", run.Tag("export/x86-vnni/energy_method"));
        Assert.False(run.HasMetric("export/arm-cortex-a/energy_mj_per_inference"));
        Assert.Null(run.Tag("export/arm-cortex-a/energy_method"));
        Assert.True(run.Metric("energy/train_joules") > 0);
        Assert.Equal("estimated:cpu-time", run.Tag("energy_method"));
        Assert.Equal("10", run.Tag("energy_watts_per_core"));
        // Int8 is smaller than the float student's checkpoint.
        Assert.True(run.Metric("export/x86-vnni/size_bytes") < run.Metric("student/size_bytes"));

        var card = JsonNode.Parse(File.ReadAllText(fixture.ExportFile("x86-vnni", "model_card.json")))!;
        Assert.Equal("input", (string)card["input"]!["name"]!);
        Assert.Equal([-1L, 64L], card["input"]!["shape"]!.AsArray().Select(d => (long)d!).ToArray());
        Assert.Equal("float32", (string)card["input"]!["dtype"]!);
        Assert.Equal("NC", (string)card["input"]!["layout"]!);
        Assert.Single(card["preprocessing"]!["mean"]!.AsArray());
        Assert.Equal(10, card["labels"]!.AsArray().Count);
        Assert.StartsWith("logits", (string)card["output"]!["meaning"]!);
        Assert.Equal("int8 symmetric per-channel(axis 0) narrow [-127, 127]", (string)card["quantization"]!["weights"]!["description"]!);
        Assert.Equal("int8 asymmetric per-tensor [-128, 127]", (string)card["quantization"]!["activations"]!["description"]!);
        Assert.Equal("min_max", (string)card["calibration"]!["observer"]!);
        Assert.Equal(1024L, (long)card["calibration"]!["samples"]!);
        Assert.Equal(run.Id, (string)card["source"]!["run_id"]!);
        Assert.Equal(run.Metric("export/x86-vnni/test_acc"), (double)card["measured"]!["test_accuracy"]!);
        Assert.Equal("passed", (string)card["verification"]!["onnx_checker"]!);
        Assert.True((bool)card["verification"]!["passed"]!);
        Assert.Equal(1, (int)card["measured"]!["latency"]![0]!["threads"]!);
        Assert.All(card["measured"]!["latency"]!.AsArray(), l => Assert.Equal(25, (int)l!["runs"]!)); // the recipe's latency_runs

        var tflite = JsonNode.Parse(File.ReadAllText(fixture.ExportFile("arm-cortex-a", "model_card.json")))!;
        Assert.Equal([1L, 64L], tflite["input"]!["shape"]!.AsArray().Select(d => (long)d!).ToArray());
        Assert.Equal("Arm NN (CpuRef)", (string)tflite["verification"]!["runtime"]!);

        // The log states the verdict apart from the ONNX checker's result (it read "ONNX checker not applicable: passed").
        Assert.Matches(@"Export arm-cortex-a: .*; verification passed: top1_agreement \d+\.\d\d % against the fake-quant student " +
            @"\(at least 99\.00 %\); ONNX checker not run \(not an ONNX file\)", fixture.Train.StdErr);
        Assert.Matches(@"Export x86-vnni: .*; verification passed: .*; ONNX checker passed", fixture.Train.StdErr);
        // The digits test split is under Arm NN's default sample of 1,000: every sample runs, and the accuracy comes
        // with its 95 % interval, in the card and in the metrics.
        long testCount = long.Parse(run.Tag("data.sizes")!.Split(' ').Single(p => p.StartsWith("test=", StringComparison.Ordinal))[5..], CultureInfo.InvariantCulture);
        foreach (var (target, node) in new[] { ("x86-vnni", card), ("arm-cortex-a", tflite) })
        {
            var measured = node["measured"]!;
            Assert.Equal(testCount, run.Metric($"export/{target}/test_samples"));
            Assert.Equal(testCount, (long)measured["test_samples"]!);
            Assert.Equal(testCount, (long)measured["test_samples_available"]!);
            Assert.Equal("all", (string)measured["test_sample_selection"]!);
            Assert.Equal(testCount, (long)node["verification"]!["samples"]!);
            var (low, high) = Wilson(Math.Round(run.Metric($"export/{target}/test_acc") * testCount), testCount);
            Assert.Equal(low, run.Metric($"export/{target}/test_acc_low"), 12);
            Assert.Equal(high, run.Metric($"export/{target}/test_acc_high"), 12);
            Assert.Equal(low, (double)measured["test_accuracy_interval"]!["low"]!, 12);
            Assert.Equal(high, (double)measured["test_accuracy_interval"]!["high"]!, 12);
        }

        // The end-of-train summary has one row per export.
        var table = CliProcess.Run("runs", "show", run.Id, "--store", fixture.Store.Path);
        Assert.True(table.ExitCode == 0, table.ToString());
        // Fractions read as percentages, as in the summary; other figures as numbers.
        Assert.Matches(@"(?m)^  export/x86-vnni/test_acc +\d+\.\d\d % *\r?$", table.StdOut);
        Assert.Matches(@"(?m)^  export/arm-cortex-a/agreement +\d+\.\d\d % *\r?$", table.StdOut);
        Assert.Matches(@"(?m)^  student/params +\d+ *\r?$", table.StdOut);
    }

    [Fact]
    public void Exported_onnx_file_carries_its_card_and_its_accuracy_in_ort_is_the_metric()
    {
        string path = fixture.ExportFile("x86-vnni", "model.onnx");
        using (var session = new InferenceSession(path))
        {
            var card = JsonNode.Parse(session.ModelMetadata.CustomMetadataMap["distill.model_card"])!;
            Assert.Equal("x86-vnni", (string)card["target"]!["name"]!);
            Assert.Null(card["measured"]);
        }
        var eval = CliProcess.Run("eval", path, "--data", fixture.Recipe, "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        var json = JsonDocument.Parse(eval.StdOut).RootElement;
        Assert.Equal(fixture.Run.Metric("export/x86-vnni/test_acc"), json.GetProperty("accuracy").GetDouble(), 12);
        Assert.True(json.GetProperty("latency_ms_b64").GetDouble() > 0);

        var tflite = CliProcess.Run("eval", fixture.ExportFile("arm-cortex-a", "model.tflite"), "--data", fixture.Recipe, "--json");
        Assert.True(tflite.ExitCode == 0, tflite.ToString());
        Assert.Equal(fixture.Run.Metric("export/arm-cortex-a/test_acc"), JsonDocument.Parse(tflite.StdOut).RootElement.GetProperty("accuracy").GetDouble(), 12);
    }

    [Theory]
    [InlineData("tensorrt", "top1_agreement")]
    [InlineData("npu-u8", "top1_agreement")]
    [InlineData("x86-avx2", "top1_agreement")]
    [InlineData("edge-fp16", "max_abs_logit_diff")]
    public void Export_of_a_finished_run_adds_to_it_without_changing_its_status(string target, string criterion)
    {
        var result = CliProcess.Run("export", fixture.Run.Id, "--target", target, "--store", fixture.Store.Path, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var report = JsonDocument.Parse(result.StdOut).RootElement;
        Assert.Equal(criterion, report.GetProperty("verification").GetProperty("criterion").GetString());
        Assert.True(report.GetProperty("verification").GetProperty("passed").GetBoolean());
        Assert.Equal("passed", report.GetProperty("verification").GetProperty("onnx_checker").GetString());

        var run = new RunJsonView(CliProcess.Run("runs", "show", fixture.Run.Id, "--store", fixture.Store.Path, "--json").StdOut);
        Assert.Equal("FINISHED", run.Status);
        Assert.Contains($"exports/{target}/model.onnx", run.Artifacts);
        Assert.Equal(report.GetProperty("test_acc").GetDouble(), run.Metric($"export/{target}/test_acc"));
        Assert.Equal(report.GetProperty("size_bytes").GetDouble(), run.Metric($"export/{target}/size_bytes"));
    }

    /// <summary>The Wilson score interval, written out again here: p ± the half width around the shifted centre.</summary>
    private static (double Low, double High) Wilson(double k, double n)
    {
        const double z = 1.959963984540054;
        double p = k / n, d = 1 + z * z / n, c = (p + z * z / (2 * n)) / d, h = z / d * Math.Sqrt(p * (1 - p) / n + z * z / (4 * n * n));
        return (Math.Max(0, c - h), Math.Min(1, c + h));
    }

    [Fact]
    public void Arm_nn_verification_on_a_sample_checks_agreement_on_each_sample_and_gives_the_interval()
    {
        using var dir = new TempDir();
        string output = Path.Combine(dir.Path, "tflite");
        var result = CliProcess.Run("export", fixture.Run.Id, "--target", "arm-cortex-a", "--store", fixture.Store.Path,
            "--verify-samples", "100", "--out", output, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var report = JsonDocument.Parse(result.StdOut).RootElement;
        Assert.Equal(100, report.GetProperty("test_samples").GetInt64());
        long available = report.GetProperty("test_samples_available").GetInt64();
        Assert.True(available > 100, $"{available} test samples");
        double accuracy = report.GetProperty("test_acc").GetDouble();
        var (low, high) = Wilson(Math.Round(accuracy * 100), 100);
        var interval = report.GetProperty("test_acc_interval").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(low, interval[0], 12);
        Assert.Equal(high, interval[1], 12);
        Assert.True(report.GetProperty("verification").GetProperty("passed").GetBoolean());

        var card = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "model_card.json")))!;
        Assert.Equal(100L, (long)card["verification"]!["samples"]!);
        Assert.Equal(100L, (long)card["measured"]!["test_samples"]!);
        Assert.Equal(available, (long)card["measured"]!["test_samples_available"]!);
        Assert.Equal("random sample stratified by label, seed 7", (string)card["measured"]!["test_sample_selection"]!);
        Assert.Contains("over the 100 verification samples", (string)card["measured"]!["latency"]![0]!["note"]!);
        // Stderr is not a terminal here: progress comes as log lines, the last one when every sample has run.
        Assert.Contains("arm-cortex-a: 100 of 100 verification samples run in Arm NN (CpuRef)", result.StdErr);

        // The same command without --json says how many of how many samples ran, and how to run all.
        var text = CliProcess.Run("export", fixture.Run.Id, "--target", "arm-cortex-a", "--store", fixture.Store.Path,
            "--verify-samples", "100", "--out", output);
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains(string.Format(CultureInfo.InvariantCulture, "test accuracy {0:P2} (95 % interval {1:P1} to {2:P1}) on 100 of {3:N0} test samples", accuracy, low, high, available),
            Regex.Replace(text.StdOut, @"\s+", " "));

        var zero = CliProcess.Run("export", fixture.Run.Id, "--target", "arm-cortex-a", "--store", fixture.Store.Path, "--verify-samples", "0", "--out", Path.Combine(dir.Path, "o"));
        Assert.Equal(2, zero.ExitCode);
        Assert.Contains("--verify-samples: expected a number of samples (at least 1) or 'all', got '0'", zero.StdErr);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "o")));

        var timed = CliProcess.Run("export", fixture.Run.Id, "--target", "arm-cortex-a", "--store", fixture.Store.Path, "--latency-runs", "10", "--out", Path.Combine(dir.Path, "o"));
        Assert.Equal(2, timed.ExitCode);
        Assert.Contains("latency_runs / --latency-runs: TFLite files are timed over the verification run, not in separate runs; ONNX targets take a number of runs", timed.StdErr);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "o")));
    }

    [Fact]
    public void Checkpoint_export_needs_data_and_out_and_writes_only_there()
    {
        using var dir = new TempDir();
        string checkpoint = Path.Combine(fixture.Store.Path, "artifacts", fixture.Run.Id, "models", "student.ckpt");
        string output = Path.Combine(dir.Path, "out");
        var missing = CliProcess.Run("export", checkpoint, "--target", "onnx-fp32", "--out", output);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--data is required", missing.StdErr);

        var result = CliProcess.Run("export", checkpoint, "--target", "onnx-fp32", "--data", fixture.Recipe, "--out", output, "--latency-runs", "45", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var card = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "model_card.json")))!;
        Assert.Equal([1, 64], card["measured"]!["latency"]!.AsArray().Select(l => (int)l!["batch"]!).ToArray());
        Assert.All(card["measured"]!["latency"]!.AsArray(), l => Assert.Equal(45, (int)l!["runs"]!));
        Assert.Equal(["model.onnx", "model_card.json"], Directory.GetFiles(output).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray());
        var report = JsonDocument.Parse(result.StdOut).RootElement;
        Assert.True(report.GetProperty("verification").GetProperty("value").GetDouble() <= 1e-4);
        Assert.Equal(["out"], Directory.GetFileSystemEntries(dir.Path).Select(f => Path.GetFileName(f)!).ToArray());
    }

    /// <summary>No Core ML runtime exists here: the export checks the file against the specification, claims no accuracy
    /// or latency, and `distill eval` refuses the file (the Core ML tests run its layers in a reference evaluator).</summary>
    [Fact]
    public void Core_ML_exports_are_checked_not_run_and_eval_refuses_them()
    {
        using var dir = new TempDir();
        var fp16 = CliProcess.Run("export", fixture.Run.Id, "--target", "coreml-fp16", "--store", fixture.Store.Path, "--out", dir.File("fp16"));
        Assert.True(fp16.ExitCode == 0, fp16.ToString());
        Assert.Contains("model.mlmodel", fp16.StdOut);
        Assert.Contains("not run: no Core ML runtime (none exists outside Apple's systems); no test accuracy or latency measured", fp16.StdOut);
        Assert.Contains("verification passed: Core ML specification check passed", fp16.StdOut);

        var int8 = CliProcess.Run("export", fixture.Run.Id, "--target", "coreml-int8", "--store", fixture.Store.Path, "--out", dir.File("int8"), "--json");
        Assert.True(int8.ExitCode == 0, int8.ToString());
        var report = JsonNode.Parse(int8.StdOut)!;
        Assert.Null(report["test_acc"]);
        Assert.Equal(("spec_problems", "passed", false), ((string)report["verification"]!["criterion"]!, (string)report["verification"]!["spec_check"]!, (bool)report["calibrated"]!));
        // 8-bit weights: about half the fp16 file.
        Assert.True(new FileInfo(dir.File("int8/model.mlmodel")).Length < new FileInfo(dir.File("fp16/model.mlmodel")).Length);

        var eval = CliProcess.Run("eval", dir.File("int8/model.mlmodel"), "--data", fixture.Recipe);
        Assert.Equal(2, eval.ExitCode);
        Assert.Contains("cannot run a Core ML file: no Core ML runtime exists outside Apple's systems", eval.StdErr);
        Assert.Equal("", eval.StdOut);
    }

    [Fact]
    public void Targets_list_shows_every_profile_and_where_it_came_from()
    {
        var result = CliProcess.Run("targets", "list", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var entries = JsonDocument.Parse(result.StdOut).RootElement.EnumerateArray().ToList();
        Assert.Equal(["arm-cortex-a", "coreml-fp16", "coreml-int8", "edge-fp16", "npu-u8", "onnx-fp32-kv", "onnx-fp32", "onnx-int4-auto", "onnx-int4-g16", "onnx-int4", "tensorrt", "x86-avx2", "x86-vnni"],
            entries.Select(e => e.GetProperty("name").GetString()!).ToArray());
        Assert.All(entries, e => Assert.Equal("current directory", e.GetProperty("origin").GetString()));
        Assert.Equal("entropy", entries.Single(e => e.GetProperty("name").GetString() == "tensorrt").GetProperty("calibration").GetString());
        // Core ML int8 quantises weights only: float activations, no calibration.
        var coreml = entries.Single(e => e.GetProperty("name").GetString() == "coreml-int8");
        Assert.Equal(("float", JsonValueKind.Null), (coreml.GetProperty("activations").GetString(), coreml.GetProperty("calibration").ValueKind));
        Assert.Equal("int4 groups of 32 sym gptq", entries.Single(e => e.GetProperty("name").GetString() == "onnx-int4").GetProperty("weights").GetString());
        Assert.Equal("int4 groups of 16 sym gptq, fp32 layers by max_drop 0.01 bits per byte",
            entries.Single(e => e.GetProperty("name").GetString() == "onnx-int4-auto").GetProperty("weights").GetString());

        // From another folder, the copies shipped next to the program are found.
        using var elsewhere = new TempDir();
        var shipped = CliProcess.Run(["targets", "list", "--json"], TimeSpan.FromMinutes(1), elsewhere.Path);
        Assert.True(shipped.ExitCode == 0, shipped.ToString());
        Assert.All(JsonDocument.Parse(shipped.StdOut).RootElement.EnumerateArray(), e => Assert.Equal("shipped", e.GetProperty("origin").GetString()));
    }

    [Fact]
    public void Bad_input_exits_2_with_a_clear_message_and_leaves_nothing_behind()
    {
        using var dir = new TempDir();
        string store = fixture.Store.Path;
        string exports = Path.Combine(store, "artifacts", fixture.Run.Id, "exports");
        var before = Directory.GetFileSystemEntries(exports).Order(StringComparer.Ordinal).ToArray();

        var unknown = CliProcess.Run("export", fixture.Run.Id, "--target", "x86-vnnni", "--store", store);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unknown target 'x86-vnnni'", unknown.StdErr);
        Assert.Contains("known targets: arm-cortex-a, coreml-fp16, coreml-int8, edge-fp16, npu-u8, onnx-fp32-kv, onnx-fp32, onnx-int4-auto, onnx-int4-g16, onnx-int4, tensorrt, x86-avx2, x86-vnni", unknown.StdErr);

        string badProfile = Path.Combine(dir.Path, "bad.yaml");
        File.WriteAllText(badProfile, "name: bad\nformat: onnx\nprecision: int8\nactivations: { signed: yes }\n");
        var bad = CliProcess.Run("export", fixture.Run.Id, "--target", badProfile, "--store", store);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains($"{badProfile}:4:24: activations.signed: expected true or false, got 'yes'", bad.StdErr);

        string file = Path.Combine(dir.Path, "a-file");
        File.WriteAllText(file, "");
        var outIsFile = CliProcess.Run("export", fixture.Run.Id, "--target", "x86-vnni", "--store", store, "--out", file);
        Assert.Equal(2, outIsFile.ExitCode);
        Assert.Contains("is a file", outIsFile.StdErr);

        // A training checkpoint is not a model the exporter can lower.
        string trainingCheckpoint = Path.Combine(store, "artifacts", fixture.Run.Id, "checkpoints", "last.ckpt");
        var notAModel = CliProcess.Run("export", trainingCheckpoint, "--target", "x86-vnni", "--data", fixture.Recipe, "--out", Path.Combine(dir.Path, "o1"));
        Assert.Equal(2, notAModel.ExitCode);
        Assert.Contains("last.ckpt", notAModel.StdErr);

        string csv = Path.Combine(dir.Path, "small.csv");
        // Read as the model's training CSV was (no header row, features / 16), but with 3 features instead of 64.
        File.WriteAllLines(csv, Enumerable.Range(0, 40).Select(i => $"{i % 7},{i % 5},{i % 3},{i % 10}"));
        string checkpoint = Path.Combine(store, "artifacts", fixture.Run.Id, "models", "student.ckpt");
        var wrongShape = CliProcess.Run("export", checkpoint, "--target", "x86-vnni", "--data", csv, "--out", Path.Combine(dir.Path, "o2"));
        Assert.Equal(2, wrongShape.ExitCode);
        Assert.Contains("the calibration data has samples of shape [3] but the model takes [64]", wrongShape.StdErr);

        Assert.Equal(["a-file", "bad.yaml", "small.csv"], Directory.GetFileSystemEntries(dir.Path).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(before, Directory.GetFileSystemEntries(exports).Order(StringComparer.Ordinal).ToArray());
    }
}
