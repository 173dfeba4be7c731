namespace Distill.Runtime.Tests;

public sealed class FamilyManifestTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distill-family-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes the test family with a file per variant and the files' real sha256.</summary>
    private string Write(FamilyManifest manifest)
    {
        var variants = manifest.Variants.Select(v =>
        {
            string file = Path.Combine(_dir, v.File);
            File.WriteAllText(file, v.Name);
            return v with { Sha256 = FamilyManifest.Sha256Of(file) };
        }).ToArray();
        string path = Path.Combine(_dir, FamilyManifest.FileName);
        (manifest with { Variants = variants }).Save(path);
        return path;
    }

    [Fact]
    public void A_saved_manifest_loads_back_with_its_variants_and_policy()
    {
        string path = Write(FamilyPolicyTests.Family(new FamilyPolicy(AcBudgetMs: 0.1)));
        var loaded = FamilyManifest.Load(path);
        Assert.Equal(["small", "base", "wide"], loaded.Variants.Select(v => v.Name));
        Assert.Equal(0.1, loaded.Policy.AcBudgetMs);
        Assert.Equal(Path.Combine(_dir, "base.onnx"), loaded.PathOf(loaded.Variant("base")));
        Assert.Contains("\"ac_budget_ms\": 0.1", File.ReadAllText(path));
        Assert.Contains("\"fastest_from\": \"serious\"", File.ReadAllText(path));
    }

    [Fact]
    public void A_variant_file_changed_after_the_manifest_was_written_is_refused_with_both_hashes()
    {
        string path = Write(FamilyPolicyTests.Family());
        File.AppendAllText(Path.Combine(_dir, "base.onnx"), "tampered");
        var error = Assert.Throws<ManifestException>(() => FamilyManifest.Load(path));
        Assert.StartsWith($"{path}: variant 'base': {Path.Combine(_dir, "base.onnx")} has sha256 ", error.Message);
        Assert.Contains("the manifest says", error.Message);
    }

    [Fact]
    public void A_missing_variant_file_is_named()
    {
        string path = Write(FamilyPolicyTests.Family());
        File.Delete(Path.Combine(_dir, "wide.onnx"));
        var error = Assert.Throws<ManifestException>(() => FamilyManifest.Load(path));
        Assert.Equal($"{path}: variant 'wide': {Path.Combine(_dir, "wide.onnx")} does not exist", error.Message);
    }

    [Fact]
    public void A_family_of_one_variant_is_refused()
    {
        var family = FamilyPolicyTests.Family();
        string path = Write(family with { Variants = family.Variants[..1] });
        var error = Assert.Throws<ManifestException>(() => FamilyManifest.Load(path));
        Assert.Equal($"{path}: has 1 variant(s); a family needs at least two", error.Message);
    }

    [Fact]
    public void A_policy_budget_that_no_variant_meets_is_refused_when_loading()
    {
        string path = Write(FamilyPolicyTests.Family(new FamilyPolicy(AcBudgetMs: 0.001)));
        var error = Assert.Throws<ManifestException>(() => FamilyManifest.Load(path));
        Assert.Equal($"{path}: policy.ac_budget_ms: no variant meets the latency budget of 0.001 ms at batch 1: the fastest, 'small', takes 0.02 ms", error.Message);
    }

    [Fact]
    public void A_variant_file_outside_the_manifests_folder_is_refused()
    {
        var family = FamilyPolicyTests.Family();
        string path = Path.Combine(_dir, FamilyManifest.FileName);
        (family with { Variants = [family.Variants[0] with { File = "../elsewhere.onnx" }, family.Variants[1]] }).Save(path);
        var error = Assert.Throws<ManifestException>(() => FamilyManifest.Load(path, verifyFiles: false));
        Assert.Contains("file '../elsewhere.onnx' must be a path inside the manifest's folder", error.Message);
    }
}
