using System.Diagnostics;
using System.Text.Json;
using Distill.Core.Export.Onnx;
using Distill.Core.Text;

namespace Distill.Cli.Tests;

/// <summary>The KV-cache ONNX form of a trained language model (target onnx-fp32-kv) against the full-recompute file
/// (onnx-fp32): same greedy tokens and logits, in ONNX Runtime and through distill generate; a file whose past/present
/// tensors do not match its model card is refused.</summary>
public sealed class LmKvCacheCliTests(LmTinyRun tiny) : IClassFixture<LmTinyRun>
{
    private static JsonElement Json(CliResult result)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.StdOut).RootElement;
    }

    /// <summary>First index of the largest logit (greedy decoding's rule).</summary>
    private static int Argmax(float[] logits) => Array.IndexOf(logits, logits.Max());

    private string ExportTeacher(TempDir dir, string target, string name)
    {
        var export = Json(CliProcess.Run("export", tiny.Artifact("models/teacher.ckpt"), "--target", target, "--data", "configs/text/lm-tiny.yaml",
            "--out", dir.File(name), "--json"));
        Assert.True(export.GetProperty("verification").GetProperty("passed").GetBoolean());
        Assert.Equal("passed", export.GetProperty("verification").GetProperty("onnx_checker").GetString());
        return dir.File($"{name}/model.onnx");
    }

    [Fact]
    public void Kv_cache_and_full_recompute_files_of_the_trained_teacher_give_the_same_greedy_tokens_and_logits_for_200_steps()
    {
        using var dir = new TempDir();
        string full = ExportTeacher(dir, "onnx-fp32", "full");
        string kv = ExportTeacher(dir, "onnx-fp32-kv", "kv");
        var card = JsonDocument.Parse(File.ReadAllText(dir.File("kv/model_card.json"))).RootElement;
        Assert.Equal("[-1,4,-1,16]", card.GetProperty("kv_cache").GetProperty("shape").GetRawText().Replace(" ", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal));
        Assert.False(JsonDocument.Parse(File.ReadAllText(dir.File("full/model_card.json"))).RootElement.TryGetProperty("kv_cache", out _));

        // In ONNX Runtime: the 32-token context is passed 6 times over, so both window rules are exercised.
        using var fullFile = OnnxLmRunner.Open(full, 1);
        using var kvFile = OnnxLmRunner.Open(kv, 1);
        Assert.IsAssignableFrom<IKvCacheModel>(kvFile);
        foreach (var overflow in new[] { ContextOverflow.Slide, ContextOverflow.Restart })
        {
            var expectedWindows = new ContextWindow(fullFile, overflow);
            var actualWindows = new ContextWindow(kvFile, overflow);
            List<int> a = [.. ByteTokenizer.Instance.Encode("It is a truth universally", "prompt")], b = [.. a];
            double worst = 0;
            for (int step = 0; step < 200; step++)
            {
                var expected = expectedWindows.Next(a);
                var actual = actualWindows.Next(b);
                worst = Math.Max(worst, expected.Zip(actual, (x, y) => Math.Abs(x - y)).Max());
                a.Add(Argmax(expected));
                b.Add(Argmax(actual));
            }
            Assert.Equal(a, b);
            Assert.True(worst <= 1e-4, $"{overflow}: max |logit diff| {worst}");
        }

        // Through distill generate, greedy, both window rules, and with the student's KV-cache file as draft.
        foreach (var overflow in new[] { "slide", "restart" })
        {
            string[] greedy = ["--prompt", "It is a truth universally", "--max-tokens", "200", "--temperature", "0", "--overflow", overflow, "--json"];
            var fromFull = Json(CliProcess.Run(["generate", full, .. greedy]));
            var fromKv = Json(CliProcess.Run(["generate", kv, .. greedy]));
            Assert.False(fromFull.GetProperty("kv_cache").GetBoolean());
            Assert.True(fromKv.GetProperty("kv_cache").GetBoolean());
            Assert.Equal(200, fromKv.GetProperty("tokens").GetInt32());
            Assert.Equal(fromFull.GetProperty("text").GetString(), fromKv.GetProperty("text").GetString());
        }
        var student = Json(CliProcess.Run("export", tiny.Artifact("models/student.ckpt"), "--target", "onnx-fp32-kv", "--data", "configs/text/lm-tiny.yaml",
            "--out", dir.File("student"), "--json"));
        Assert.True(student.GetProperty("verification").GetProperty("passed").GetBoolean());
        string[] speculative = ["--prompt", "It is a truth universally", "--max-tokens", "60", "--temperature", "0", "--json"];
        var alone = Json(CliProcess.Run(["generate", kv, .. speculative]));
        var drafted = Json(CliProcess.Run(["generate", kv, .. speculative, "--draft", dir.File("student/model.onnx"), "--draft-tokens", "3"]));
        Assert.Equal(alone.GetProperty("text").GetString(), drafted.GetProperty("text").GetString());
        Assert.True(drafted.GetProperty("proposed").GetInt32() > 0);
    }

    [Theory]
    [InlineData("rename", "missing: past_key_values.1.value; unexpected: past_key_values.1.v")]
    [InlineData("head_dim", "input 'past_key_values.0.key' is [?, 4, ?, ?] Float, expected [batch, 4, length, 16] float32")]
    public void A_kv_cache_file_whose_past_tensors_do_not_match_its_model_card_is_refused_with_exit_2_naming_the_file(string change, string problem)
    {
        using var dir = new TempDir();
        string kv = ExportTeacher(dir, "onnx-fp32-kv", "kv");
        string bad = dir.File($"bad-{change}.onnx");
        string edit = change == "rename"
            ? "[n.input.__setitem__(i, 'past_key_values.1.v') for n in m.graph.node for i, x in enumerate(n.input) if x == 'past_key_values.1.value']; " +
              "[setattr(v, 'name', 'past_key_values.1.v') for v in m.graph.input if v.name == 'past_key_values.1.value']"
            : "d = m.graph.input[1].type.tensor_type.shape.dim[3]; d.ClearField('dim_value'); d.dim_param = 'head_dim'";
        // Debian's python3-onnx (installed by .ci/setup) belongs to the system interpreter, as for the ONNX checker.
        string interpreter = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var python = Process.Start(new ProcessStartInfo(interpreter, ["-c", $"import onnx, sys; m = onnx.load(sys.argv[1]); {edit}; onnx.save(m, sys.argv[2])", kv, bad])
        {
            RedirectStandardError = true,
        })!;
        string pythonError = python.StandardError.ReadToEnd();
        python.WaitForExit();
        Assert.True(python.ExitCode == 0, pythonError);

        var result = CliProcess.Run("generate", bad, "--prompt", "It is", "--max-tokens", "5");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"{bad}: KV-cache layout mismatch", result.StdErr);
        Assert.Contains(problem, result.StdErr);
        Assert.Equal("", result.StdOut);
    }

    [Fact]
    public void A_classifier_export_to_a_kv_cache_profile_exits_2_before_writing()
    {
        using var dir = new TempDir();
        var (store, runId, recipe) = TinyDigitsRun.Train(dir);
        var result = CliProcess.Run("export", runId, "--target", "onnx-fp32-kv", "--data", recipe, "--store", store, "--out", dir.File("kv"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("onnx-fp32-kv.yaml: kv_cache: true is for language models", result.StdErr);
        Assert.False(Directory.Exists(dir.File("kv")));
    }
}
