using System.Text.Json;

namespace Distill.Cli.Tests;

/// <summary>Language models to ONNX from the command line: export of a run's student (fp32 and int8) into the run,
/// of a teacher checkpoint into a folder, generation and evaluation from model.onnx in ONNX Runtime.</summary>
public sealed class LmOnnxCliTests(LmTinyRun tiny) : IClassFixture<LmTinyRun>
{
    private static JsonElement Json(CliResult result)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.StdOut).RootElement;
    }

    [Fact]
    public void Student_exports_to_fp32_and_int8_in_the_run_and_both_files_generate_and_evaluate_in_onnx_runtime()
    {
        var fp32 = Json(CliProcess.Run("export", tiny.Run.Id, "--target", "onnx-fp32", "--store", tiny.Store.Path, "--json"));
        var int8 = Json(CliProcess.Run("export", tiny.Run.Id, "--target", "x86-vnni", "--store", tiny.Store.Path, "--json"));
        double studentBpb = tiny.Run.Metric("student/val_bpb");
        Assert.True(fp32.GetProperty("verification").GetProperty("passed").GetBoolean());
        Assert.True(fp32.GetProperty("verification").GetProperty("max_abs_logit_diff").GetDouble() <= 1e-4);
        Assert.Equal("passed", fp32.GetProperty("verification").GetProperty("onnx_checker").GetString());
        Assert.Equal(studentBpb, fp32.GetProperty("val_bpb").GetDouble(), 4);
        Assert.True(int8.GetProperty("verification").GetProperty("passed").GetBoolean());
        Assert.True(int8.GetProperty("verification").GetProperty("next_token_agreement").GetDouble() >= 0.95);
        Assert.Equal("passed", int8.GetProperty("verification").GetProperty("onnx_checker").GetString());
        Assert.True(Math.Abs(int8.GetProperty("val_bpb").GetDouble() - studentBpb) < 0.05, $"int8 {int8.GetProperty("val_bpb")} vs {studentBpb} bits/byte");
        Assert.True(int8.GetProperty("size_bytes").GetInt64() < fp32.GetProperty("size_bytes").GetInt64());
        Assert.True(int8.GetProperty("tokens_per_second").GetDouble() > 0);

        string fp32File = tiny.Artifact("exports/onnx-fp32/model.onnx");
        string int8File = tiny.Artifact("exports/x86-vnni/model.onnx");
        Assert.Equal(fp32File, fp32.GetProperty("model").GetString());
        var card = JsonDocument.Parse(File.ReadAllText(tiny.Artifact("exports/x86-vnni/model_card.json"))).RootElement;
        Assert.Equal("language-model", card.GetProperty("kind").GetString());
        Assert.Equal("tokens", card.GetProperty("input").GetProperty("name").GetString());
        Assert.Equal("int64", card.GetProperty("input").GetProperty("dtype").GetString());
        Assert.Equal(32, card.GetProperty("model").GetProperty("context").GetInt32());
        Assert.Equal("byte", card.GetProperty("tokenizer").GetProperty("kind").GetString());
        Assert.Equal("int8", card.GetProperty("target").GetProperty("precision").GetString());
        Assert.StartsWith("fixed context window, no past key/values", card.GetProperty("decoding").GetString());

        var shown = new RunJsonView(CliProcess.Run("runs", "show", tiny.Run.Id, "--store", tiny.Store.Path, "--json").StdOut);
        Assert.Equal(fp32.GetProperty("val_bpb").GetDouble(), shown.Metric("export/onnx-fp32/val_bpb"), 9);
        Assert.Equal(1, shown.Metric("export/x86-vnni/verified"));
        Assert.True(shown.Metric("export/x86-vnni/tokens_per_second") > 0);
        Assert.Contains("exports/x86-vnni/model.onnx", shown.Artifacts);

        var generated = CliProcess.Run("generate", int8File, "--prompt", "It is a truth", "--max-tokens", "30", "--temperature", "0.8", "--top-k", "20", "--seed", "3");
        Assert.True(generated.ExitCode == 0, generated.ToString());
        Assert.StartsWith("It is a truth", generated.StdOut);
        Assert.Matches(@"30 tokens in [0-9.]+ s: [0-9.]+ tokens/s \(ONNX Runtime, int8", generated.StdErr);

        var eval = Json(CliProcess.Run("eval", fp32File, "--data", "configs/text/lm-tiny.yaml", "--json"));
        Assert.Equal(128 * 32, eval.GetProperty("tokens").GetInt64());
        Assert.Equal(studentBpb, eval.GetProperty("bits_per_byte").GetDouble(), 4);
    }

    [Fact]
    public void Teacher_checkpoint_exported_to_onnx_generates_torchsharps_greedy_tokens()
    {
        using var dir = new TempDir();
        string teacher = tiny.Artifact("models/teacher.ckpt");
        var export = CliProcess.Run("export", teacher, "--target", "onnx-fp32", "--data", "configs/text/lm-tiny.yaml", "--out", dir.File("teacher"));
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Matches(@"verification passed: max_abs_logit_diff \S+ against the float model \(TorchSharp\) \(at most 0\.0001\); ONNX checker passed",
            export.StdOut);
        string onnx = dir.File("teacher/model.onnx");
        Assert.True(File.Exists(dir.File("teacher/model_card.json")));

        string[] greedy = ["--prompt", "Mr. Darcy", "--max-tokens", "40", "--temperature", "0", "--json"];
        var fromTorch = Json(CliProcess.Run(["generate", teacher, .. greedy]));
        var fromOnnx = Json(CliProcess.Run(["generate", onnx, .. greedy]));
        Assert.Equal(40, fromOnnx.GetProperty("tokens").GetInt32());
        Assert.Equal(fromTorch.GetProperty("text").GetString(), fromOnnx.GetProperty("text").GetString());
    }

    /// <summary>onnx-int4: GPTQ on the recipe's training split, written as MatMulNBits (one node per block linear),
    /// verified in ONNX Runtime against the float teacher; a group size that does not divide a layer exits 2 naming
    /// it, before anything is written.</summary>
    [Fact]
    public void Teacher_exports_to_int4_matmulnbits_calibrated_on_the_training_split_and_a_group_size_that_divides_no_layer_exits_2()
    {
        using var dir = new TempDir();
        string teacher = tiny.Artifact("models/teacher.ckpt");
        JsonElement Export(string target, string name) =>
            Json(CliProcess.Run("export", teacher, "--target", target, "--data", "configs/text/lm-tiny.yaml", "--out", dir.File(name), "--json"));
        var fp32 = Export("onnx-fp32", "fp32");
        var int8 = Export("x86-vnni", "int8");
        var int4 = Export("onnx-int4", "int4");
        var verification = int4.GetProperty("verification");
        Assert.True(verification.GetProperty("passed").GetBoolean(), verification.ToString());
        Assert.Equal("passed", verification.GetProperty("onnx_checker").GetString());
        Assert.True(verification.GetProperty("next_token_agreement").GetDouble() >= 0.85);
        double fp32Bpb = fp32.GetProperty("val_bpb").GetDouble(), int4Bpb = int4.GetProperty("val_bpb").GetDouble();
        Assert.True(Math.Abs(int4Bpb - fp32Bpb) < 0.05, $"int4 {int4Bpb} vs fp32 {fp32Bpb} bits/byte");
        Assert.True(int4.GetProperty("size_bytes").GetInt64() < int8.GetProperty("size_bytes").GetInt64());

        var card = JsonDocument.Parse(File.ReadAllText(dir.File("int4/model_card.json"))).RootElement;
        Assert.Equal("int4", card.GetProperty("target").GetProperty("precision").GetString());
        var quantization = card.GetProperty("quantization");
        Assert.StartsWith("gptq: ", quantization.GetProperty("method").GetString());
        Assert.Contains("spread over the training split of lm-tiny.yaml", quantization.GetProperty("method").GetString());
        Assert.StartsWith("MatMulNBits (com.microsoft)", quantization.GetProperty("layout").GetString());
        // NodeProto.op_type (field 4, length 11) once per node: 4 linear layers in each of the 2 blocks.
        string bytes = System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(dir.File("int4/model.onnx")));
        Assert.Equal(8, System.Text.RegularExpressions.Regex.Count(bytes, "\u0022\u000bMatMulNBits"));

        string profile = dir.File("int4-g64.yaml");
        File.WriteAllText(profile, "name: int4-g64\nformat: onnx\nprecision: int4\nint4: { group_size: 64 }\n");
        var refused = CliProcess.Run("export", tiny.Artifact("models/student.ckpt"), "--target", profile, "--data", "configs/text/lm-tiny.yaml",
            "--out", dir.File("g64"));
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("int4.group_size: 64 does not divide blocks.0.attn.qkv's input size 32; use 16 or 32", refused.StdErr);
        Assert.False(Directory.Exists(dir.File("g64")));
    }

    /// <summary>onnx-int4-auto: the layers whose int4 groups cost the most go back to fp32 until the rise in validation
    /// bits per byte over float is within the profile's max_drop, measured in TorchSharp at export; the file holds
    /// MatMulNBits for the rest, and its bits per byte in ONNX Runtime agree.</summary>
    [Fact]
    public void Teacher_exports_to_int4_with_the_most_sensitive_layers_chosen_float_to_meet_max_drop()
    {
        using var dir = new TempDir();
        string teacher = tiny.Artifact("models/teacher.ckpt");
        var fp32 = Json(CliProcess.Run("export", teacher, "--target", "onnx-fp32", "--data", "configs/text/lm-tiny.yaml", "--out", dir.File("fp32"), "--json"));
        string profile = dir.File("auto.yaml");
        File.WriteAllText(profile, "name: int4-auto\nformat: onnx\nprecision: int4\nint4: { group_size: 16, method: rtn, auto: { max_drop: 0.004 } }\n");
        var auto = Json(CliProcess.Run("export", teacher, "--target", profile, "--data", "configs/text/lm-tiny.yaml", "--out", dir.File("auto"), "--json"));
        Assert.True(auto.GetProperty("verification").GetProperty("passed").GetBoolean(), auto.ToString());

        var card = JsonDocument.Parse(File.ReadAllText(dir.File("auto/model_card.json"))).RootElement.GetProperty("quantization").GetProperty("auto");
        Assert.True(card.GetProperty("met").GetBoolean(), card.ToString());
        var floats = card.GetProperty("float_layers").EnumerateArray().Select(l => l.GetString()!).ToList();
        var order = card.GetProperty("sensitivity").EnumerateArray().Select(s => s.GetProperty("layer").GetString()!).ToList();
        Assert.Equal(8, order.Count);
        Assert.Equal(order.Take(floats.Count), floats);
        Assert.Equal(floats.Count + 1, card.GetProperty("steps").GetArrayLength());
        double chosen = card.GetProperty("val_bits_per_byte").GetDouble(), inFloat = card.GetProperty("float_val_bits_per_byte").GetDouble();
        Assert.True(chosen - inFloat <= 0.004, card.ToString());
        string bytes = System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(dir.File("auto/model.onnx")));
        Assert.Equal(8 - floats.Count, System.Text.RegularExpressions.Regex.Count(bytes, "\u0022\u000bMatMulNBits"));
        // The same validation text in ONNX Runtime: the file's rise over the fp32 file is the measured one, to float rounding.
        double fileRise = auto.GetProperty("val_bpb").GetDouble() - fp32.GetProperty("val_bpb").GetDouble();
        Assert.True(Math.Abs(fileRise - (chosen - inFloat)) <= 0.002, $"file rise {fileRise}, measured {chosen - inFloat}");
    }

    [Fact]
    public void Onnx_generation_refuses_a_prompt_longer_than_the_context_and_lm_export_refuses_tflite()
    {
        using var dir = new TempDir();
        string student = tiny.Artifact("models/student.ckpt");
        var export = CliProcess.Run("export", student, "--target", "onnx-fp32", "--data", "configs/text/lm-tiny.yaml", "--out", dir.File("student"));
        Assert.True(export.ExitCode == 0, export.ToString());

        var tooLong = CliProcess.Run("generate", dir.File("student/model.onnx"), "--prompt", new string('a', 33));
        Assert.Equal(2, tooLong.ExitCode);
        Assert.Contains("prompt: 33 tokens is longer than the model's context of 32 tokens", tooLong.StdErr);
        Assert.Equal("", tooLong.StdOut);

        var tflite = CliProcess.Run("export", student, "--target", "arm-cortex-a", "--data", "configs/text/lm-tiny.yaml", "--out", dir.File("tflite"));
        Assert.Equal(2, tflite.ExitCode);
        Assert.Contains("language models export to ONNX only", tflite.StdErr);
        // Core ML: the transformer's layer kinds (embedding, layer norm, attention) are not written; refused before anything is.
        var coreml = CliProcess.Run("export", student, "--target", "coreml-fp16", "--data", "configs/text/lm-tiny.yaml", "--out", dir.File("coreml"));
        Assert.Equal(2, coreml.ExitCode);
        Assert.Contains("language models export to ONNX only", coreml.StdErr);
        Assert.False(Directory.Exists(dir.File("coreml")));

        var noData = CliProcess.Run("export", student, "--target", "onnx-fp32", "--out", dir.File("none"));
        Assert.Equal(2, noData.ExitCode);
        Assert.Contains("--data is required when exporting a language-model checkpoint file", noData.StdErr);
    }
}
