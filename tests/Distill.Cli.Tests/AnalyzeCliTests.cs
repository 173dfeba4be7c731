using System.Text.Json;

namespace Distill.Cli.Tests;

/// <summary>`distill analyze`: per-layer sensitivity of a trained classifier, written as CSV, JSON and a PNG, and of a
/// language model; bad widths exit 2 before any work.</summary>
public sealed class AnalyzeCliTests(LmTinyRun tiny) : IClassFixture<LmTinyRun>
{
    [Fact]
    public void Classifier_sensitivity_has_a_row_per_layer_and_width_in_the_table_csv_json_and_plot()
    {
        using var dir = new TempDir();
        var run = TinyDigitsRun.Train(dir);
        string student = Path.Combine(run.RunFolder, "models", "student.ckpt");
        var result = CliProcess.Run("analyze", student, "--data", run.Recipe, "--out", dir.File("an"), "--bits", "8,2", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var json = JsonDocument.Parse(result.StdOut).RootElement;
        Assert.Equal("test_accuracy", json.GetProperty("metric").GetString());
        var layers = json.GetProperty("layers").EnumerateArray().ToList();
        // The mlp [8]: head.fc0 and head.out, each at 8 and 2 bits.
        Assert.Equal(["head.fc0/int8 weights", "head.fc0/int2 weights", "head.out/int8 weights", "head.out/int2 weights"],
            layers.Select(l => $"{l.GetProperty("layer").GetString()}/{l.GetProperty("precision").GetString()}"));
        double baseline = json.GetProperty("baseline").GetDouble();
        foreach (var l in layers)
            Assert.Equal(baseline - l.GetProperty("value").GetDouble(), l.GetProperty("loss").GetDouble(), 9);
        // Two bits leave far more noise in the logits than eight.
        double Sqnr(string layer, string precision) => layers.Single(l => l.GetProperty("layer").GetString() == layer && l.GetProperty("precision").GetString() == precision)
            .GetProperty("sqnr_db").GetDouble();
        Assert.True(Sqnr("head.out", "int8 weights") > Sqnr("head.out", "int2 weights") + 15);

        var csv = File.ReadAllLines(dir.File("an/sensitivity.csv"));
        Assert.Equal("layer,precision,parameters,metric,value,loss,sqnr_db", csv[0]);
        Assert.Equal(5, csv.Length);
        Assert.StartsWith("head.fc0,int8 weights,512,test_accuracy,", csv[1]);
        var png = File.ReadAllBytes(dir.File("an/sensitivity.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(File.Exists(dir.File("an/sensitivity.json")));

        var bad = CliProcess.Run("analyze", student, "--data", run.Recipe, "--out", dir.File("bad"), "--bits", "8,9");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--bits 8,9: '9' is not a width of 2..8 bits", bad.StdErr);
        Assert.False(Directory.Exists(dir.File("bad")));
    }

    [Fact]
    public void Language_model_sensitivity_covers_every_block_linear_at_int8_and_int4_and_refuses_other_widths()
    {
        using var dir = new TempDir();
        string teacher = tiny.Artifact("models/teacher.ckpt");
        var result = CliProcess.Run("analyze", teacher, "--data", "configs/text/lm-tiny.yaml", "--out", dir.File("an"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("float ", result.StdOut);
        Assert.Contains("most sensitive: blocks.", result.StdOut);
        var json = JsonDocument.Parse(File.ReadAllText(dir.File("an/sensitivity.json"))).RootElement;
        Assert.Equal("val_bpb", json.GetProperty("metric").GetString());
        var layers = json.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(16, layers.Count); // 2 blocks x 4 linear layers x {int8, int4 g32}
        Assert.Equal(["int8", "int4 g32"], layers.Select(l => l.GetProperty("precision").GetString()).Distinct());
        Assert.All(layers.Where(l => l.GetProperty("precision").GetString() == "int8"), l => Assert.True(l.GetProperty("sqnr_db").GetDouble() > 40));

        var bad = CliProcess.Run("analyze", teacher, "--data", "configs/text/lm-tiny.yaml", "--out", dir.File("bad"), "--bits", "6");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("language models are analysed at 8 (int8 per output feature) and 4 (int4 groups) bits", bad.StdErr);
    }
}
