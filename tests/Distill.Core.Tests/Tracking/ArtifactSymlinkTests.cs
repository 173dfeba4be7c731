using Distill.Core.Tracking;

namespace Distill.Core.Tests.Tracking;

/// <summary>An artifact replaced by a symbolic link after it was registered (or lying in a linked folder) must not let
/// the store read or write outside the run's folder; links that stay inside it are fine.</summary>
public sealed class ArtifactSymlinkTests : IDisposable
{
    private readonly TempStoreFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private (RunStore Store, string RunId, string RunFolder, string Outside) RunWithArtifact()
    {
        string outside = Path.Combine(_folder.Path, "outside");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "secret.txt"), "secret");
        var store = RunStore.Open(Path.Combine(_folder.Path, "store"));
        using var tracker = store.StartRun("exp", "run");
        File.WriteAllText(Path.Combine(_folder.Path, "report.txt"), "report");
        tracker.LogArtifact(Path.Combine(_folder.Path, "report.txt"), "reports/report.txt");
        tracker.End(RunStatus.Finished);
        return (store, tracker.RunId, tracker.ArtifactDirectory, outside);
    }

    [Fact]
    public void A_registered_file_replaced_by_a_link_out_of_the_run_is_refused()
    {
        var (store, id, runFolder, outside) = RunWithArtifact();
        using var _ = store;
        string file = Path.Combine(runFolder, "reports", "report.txt");
        File.Delete(file);
        File.CreateSymbolicLink(file, Path.Combine(outside, "secret.txt"));

        var error = Assert.Throws<InvalidInputException>(() => store.ResolveArtifact(id, "reports/report.txt"));
        Assert.Equal($"artifact 'reports/report.txt' in {runFolder} is a symbolic link, or lies in a linked folder, that leads outside it " +
            $"(to {Path.Combine(outside, "secret.txt")}); refusing to follow it", error.Message);
        Assert.Throws<InvalidInputException>(() => ArtifactDownload.Download(store, id, "reports", Path.Combine(_folder.Path, "out")));
        Assert.False(Directory.Exists(Path.Combine(_folder.Path, "out")));
    }

    [Fact]
    public void A_linked_parent_folder_and_a_relative_link_climbing_out_are_refused()
    {
        var (store, id, runFolder, outside) = RunWithArtifact();
        using var _ = store;
        string reports = Path.Combine(runFolder, "reports");
        Directory.Delete(reports, recursive: true);
        File.Copy(Path.Combine(outside, "secret.txt"), Path.Combine(outside, "report.txt"));
        Directory.CreateSymbolicLink(reports, outside);
        Assert.Contains("lies in a linked folder", Assert.Throws<InvalidInputException>(() => store.ResolveArtifact(id, "reports/report.txt")).Message);

        // A relative link whose '..' are taken after another link, as the kernel does: up -> deep/a/b, so six '..' from
        // there reach the temporary folder (store/artifacts/<id>/deep/a/b); read as text they would climb to the root.
        Directory.Delete(reports);
        Directory.CreateDirectory(Path.Combine(runFolder, "deep", "a", "b"));
        Directory.CreateSymbolicLink(Path.Combine(runFolder, "up"), Path.Combine("deep", "a", "b"));
        Directory.CreateSymbolicLink(reports, Path.Combine("up", "..", "..", "..", "..", "..", "..", "outside"));
        Assert.Equal(Path.Combine(outside, "report.txt"), ArtifactPaths.RealPath(Path.Combine(reports, "report.txt")));
        Assert.Throws<InvalidInputException>(() => store.ResolveArtifact(id, "reports/report.txt"));
    }

    [Fact]
    public void Links_that_stay_in_the_run_folder_are_followed()
    {
        var (store, id, runFolder, _) = RunWithArtifact();
        using var __ = store;
        string reports = Path.Combine(runFolder, "reports");
        Directory.Move(reports, Path.Combine(runFolder, "reports.v1"));
        Directory.CreateSymbolicLink(reports, "reports.v1");
        Assert.Equal(Path.Combine(reports, "report.txt"), store.ResolveArtifact(id, "reports/report.txt"));
        var written = ArtifactDownload.Download(store, id, "reports", Path.Combine(_folder.Path, "out"));
        Assert.Equal("report", File.ReadAllText(Assert.Single(written)));
    }

    [Fact]
    public void A_link_loop_is_refused_not_followed_forever()
    {
        var (store, id, runFolder, _) = RunWithArtifact();
        using var __ = store;
        string reports = Path.Combine(runFolder, "reports");
        Directory.Delete(reports, recursive: true);
        Directory.CreateSymbolicLink(reports, "loop");
        Directory.CreateSymbolicLink(Path.Combine(runFolder, "loop"), "reports");
        Assert.Contains("too many levels of symbolic links", Assert.Throws<InvalidInputException>(() => store.ResolveArtifact(id, "reports/report.txt")).Message);
    }
}
