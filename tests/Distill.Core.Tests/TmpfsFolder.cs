using System.Diagnostics;

namespace Distill.TestSupport;

/// <summary>
/// A small tmpfs mounted on a fresh folder, to fill a disk for real (`mount -t tmpfs -o size=…`); unmounted and
/// removed on Dispose. Mounting needs root (the tests run as root here and in CI): without it the test fails,
/// saying so, rather than being skipped. Shared by Distill.Core.Tests and Distill.Cli.Tests (linked).
/// </summary>
public sealed class TmpfsFolder : IDisposable
{
    private readonly List<string> _mounts = [];

    public TmpfsFolder(int sizeKiB)
    {
        Path = Directory.CreateTempSubdirectory("distill-tmpfs-").FullName;
        Mount(Path, sizeKiB);
    }

    public string Path { get; }

    /// <summary>Mounts another tmpfs on a sub-folder, e.g. to give a store's artifacts their own disk.</summary>
    public string MountSubfolder(string name, int sizeKiB)
    {
        string folder = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(folder);
        Mount(folder, sizeKiB);
        return folder;
    }

    /// <summary>Changes a mounted tmpfs's size, e.g. to free space after a test filled it.</summary>
    public static void Resize(string folder, int sizeKiB) => Run("mount", "-o", $"remount,size={sizeKiB}k", folder);

    /// <summary>Writes zeros into <paramref name="file"/> until the disk is full; returns the bytes written.</summary>
    public static long Fill(string file)
    {
        var chunk = new byte[4096];
        long written = 0;
        using var stream = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1);
        try
        {
            while (true)
            {
                stream.Write(chunk);
                written += chunk.Length;
            }
        }
        catch (IOException)
        {
            return written;
        }
    }

    public void Dispose()
    {
        for (int i = _mounts.Count - 1; i >= 0; i--)
        {
            try
            {
                Run("umount", _mounts[i]);
            }
            catch (InvalidOperationException)
            {
                // Still busy (a child process not yet gone): leave it rather than fail the test run.
                return;
            }
        }
        Directory.Delete(Path, recursive: true);
    }

    private void Mount(string folder, int sizeKiB)
    {
        try
        {
            Run("mount", "-t", "tmpfs", "-o", $"size={sizeKiB}k", "tmpfs", folder);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException(
                $"this test fills a real disk: it mounts a {sizeKiB} KiB tmpfs on {folder}, which needs root (run the tests as root, as CI does). {e.Message}", e);
        }
        _mounts.Add(folder);
    }

    private static void Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string arg in args)
            info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {process.ExitCode}: {error.Trim()}");
    }
}
