using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Distill.Core.Data;

/// <summary>How the images of an image folder become samples.</summary>
public sealed record ImageFolderOptions
{
    public required int Height { get; init; }
    public required int Width { get; init; }
    /// <summary>1 (grey) or 3 (RGB).</summary>
    public required int Channels { get; init; }
    /// <summary>Skip images that cannot be decoded (counted and logged) instead of refusing the folder.</summary>
    public bool SkipBad { get; init; }
    /// <summary>Convert grey images to RGB (channels 3) or colour ones to grey (channels 1) instead of refusing them.</summary>
    public bool ConvertChannels { get; init; }
}

/// <summary>The images of one folder, decoded: planar uint8 pixels [N, C, H, W] and a label per image.</summary>
/// <param name="ClassNames">The class sub-folders' names in label order (sorted, ordinal).</param>
/// <param name="ContentHash">SHA-256 (hex) over every image's relative path and bytes: changes when any image does.</param>
/// <param name="Skipped">"path: problem" of every image skipped (skip_bad).</param>
/// <param name="FromCache">Whether the pixels came from the uint8 cache rather than from decoding the files.</param>
internal sealed record ImageSamples(string Folder, string[] ClassNames, byte[] Pixels, long[] Labels, string ContentHash,
    IReadOnlyList<string> Skipped, bool FromCache);

/// <summary>Reads an image folder: one sub-folder per class (names sorted ordinally give the labels 0..K-1), each
/// holding PNG or JPEG files (.png, .jpg, .jpeg; other files and nested folders are ignored). Decoded images are kept
/// in a uint8 cache file when a cache folder is given, so a later run whose folder and options are unchanged reads
/// that file instead of decoding every image again.</summary>
internal static class ImageFolderReader
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg"];

    /// <param name="classNames">For a test folder: the training folder's classes, which its labels must be; null for
    /// the training folder, whose sub-folders are the classes.</param>
    /// <param name="cacheDirectory">Where decoded images are cached; null = always decode.</param>
    public static ImageSamples Read(string folder, ImageFolderOptions options, string[]? classNames, string? cacheDirectory,
        CancellationToken cancel = default)
    {
        var (classes, files) = List(folder, classNames);
        string contentHash = ContentHash(folder, files, cancel);
        string? cachePath = cacheDirectory is null ? null : Path.Combine(cacheDirectory, CacheName(folder, options, classes));
        if (cachePath is not null && ImageCache.TryRead(cachePath, contentHash, options, classes) is { } cached)
        {
            return new ImageSamples(folder, classes, cached.Pixels, cached.Labels, contentHash, cached.Skipped, FromCache: true);
        }
        var (pixels, labels, skipped) = Decode(folder, files, options, classes, cancel);
        if (cachePath is not null)
        {
            ImageCache.Write(cachePath, contentHash, options, classes, pixels, labels, skipped);
        }
        return new ImageSamples(folder, classes, pixels, labels, contentHash, skipped, FromCache: false);
    }

    /// <summary>The class names and every image file with its label, in a fixed order (class, then file name, ordinal).</summary>
    internal static (string[] Classes, (string Path, int Label)[] Files) List(string folder, string[]? classNames)
    {
        if (!Directory.Exists(folder))
        {
            throw new InvalidInputException($"{folder}: image folder not found");
        }
        string[] subFolders;
        try
        {
            subFolders = Directory.GetDirectories(folder).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{folder}: cannot list the image folder: {e.Message}", e);
        }
        if (subFolders.Length == 0)
        {
            throw new InvalidInputException($"{folder}: no class sub-folders; an image folder holds one sub-folder per class, with that class's PNG or JPEG images in it");
        }
        string[] classes = classNames ?? subFolders.Select(d => Path.GetFileName(d)).ToArray();
        if (classes.Length < 2)
        {
            throw new InvalidInputException($"{folder}: only one class sub-folder ({classes[0]}); classification needs at least two classes");
        }
        var files = new List<(string, int)>();
        foreach (string sub in subFolders)
        {
            string name = Path.GetFileName(sub);
            int label = Array.IndexOf(classes, name);
            if (label < 0)
            {
                throw new InvalidInputException($"{sub}: class '{name}' is not one of the training folder's classes ({string.Join(", ", classes)})");
            }
            string[] images = Directory.GetFiles(sub)
                .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()) && !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal).ToArray();
            if (images.Length == 0)
            {
                throw new InvalidInputException($"{sub}: class folder '{name}' has no PNG or JPEG images (.png, .jpg, .jpeg)");
            }
            files.AddRange(images.Select(f => (f, label)));
        }
        return (classes, files.ToArray());
    }

    private static string ContentHash(string folder, (string Path, int Label)[] files, CancellationToken cancel)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (path, _) in files)
        {
            cancel.ThrowIfCancellationRequested();
            string relative = Path.GetRelativePath(folder, path).Replace('\\', '/');
            hash.AppendData(Encoding.UTF8.GetBytes($"{relative}\t{Convert.ToHexStringLower(SHA256.HashData(ReadFile(path)))}\n"));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot read image: {e.Message}", e);
        }
    }

    private static (byte[] Pixels, long[] Labels, List<string> Skipped) Decode(string folder, (string Path, int Label)[] files,
        ImageFolderOptions options, string[] classes, CancellationToken cancel)
    {
        int sampleSize = options.Channels * options.Height * options.Width;
        var pixels = new byte[(long)files.Length * sampleSize];
        var labels = new List<long>(files.Length);
        var skipped = new List<string>();
        var perClass = new int[classes.Length];
        foreach (var (path, label) in files)
        {
            cancel.ThrowIfCancellationRequested();
            byte[]? image = ImageDecoder.Decode(ReadFile(path), options.Height, options.Width, options.Channels, options.ConvertChannels, out _, out string problem);
            if (image is null)
            {
                if (!options.SkipBad)
                {
                    throw new InvalidInputException($"{path}: {problem}");
                }
                skipped.Add($"{path}: {problem}");
                continue;
            }
            image.CopyTo(pixels, (long)labels.Count * sampleSize);
            labels.Add(label);
            perClass[label]++;
        }
        int empty = Array.IndexOf(perClass, 0);
        if (empty >= 0 && files.Any(f => f.Label == empty))
        {
            throw new InvalidInputException($"{Path.Combine(folder, classes[empty])}: no image of class '{classes[empty]}' could be decoded ({skipped.Count} skipped in the folder)");
        }
        return (skipped.Count == 0 ? pixels : pixels[..(labels.Count * sampleSize)], labels.ToArray(), skipped);
    }

    /// <summary>One cache file per folder and reading: another image size, channel count or class list is another file.</summary>
    private static string CacheName(string folder, ImageFolderOptions o, string[] classes)
    {
        string key = string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFullPath(folder)}\n{o.Height}x{o.Width}x{o.Channels}\nskip_bad={o.SkipBad}\nconvert={o.ConvertChannels}\n{string.Join("\n", classes)}");
        return $"image-folder-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..20]}.u8";
    }
}
