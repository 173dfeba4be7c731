using System.Text.Encodings.Web;
using System.Text.Json;

namespace Distill.Core.Tracking;

/// <summary>
/// How a run ended (status, error, time), kept in a small file in the run's folder when the database cannot
/// take it, typically because the disk is full. The file is reserved (written full of zero bytes) when the run
/// starts or resumes, so the note is written into space the file already owns and needs no new disk space.
/// The next process that opens the store applies the note to the run and removes the file; a run that ends
/// normally removes it at once.
/// </summary>
internal static class EndNote
{
    public const string FileName = ".end-note.json";

    /// <summary>Room for an error tag of <see cref="TrackingNames.MaxTagValueLength"/> characters, most of them ASCII.</summary>
    internal const int ReservedBytes = 16 * 1024;

    public sealed record Note(RunStatus Status, string Error, long EndMs);

    private sealed record NoteJson(string Status, string Error, long EndTime);

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // UTF-8 as is: the note is read by Distill only
    };

    /// <summary>Creates (or resets) the reserved file; throws if the disk cannot hold it.</summary>
    public static void Reserve(string runDirectory)
    {
        Directory.CreateDirectory(runDirectory);
        using var file = new FileStream(PathIn(runDirectory), FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        file.Write(new byte[ReservedBytes]);
        file.Flush(flushToDisk: true);
    }

    /// <summary>Writes the note over the reserved bytes. Without a reservation it tries a new file, which needs free space.</summary>
    public static void Keep(string runDirectory, RunStatus status, string error, long endMs)
    {
        byte[] bytes = Serialize(status, error, endMs);
        using var file = new FileStream(PathIn(runDirectory), FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        file.Write(bytes);
        file.SetLength(bytes.Length);
        file.Flush(flushToDisk: true);
    }

    /// <summary>The kept note, or null when there is none (no file, only the reservation, or a file that cannot be read).</summary>
    public static Note? Read(string runDirectory)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(PathIn(runDirectory));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (bytes.Length == 0 || bytes[0] == 0)
            return null;
        try
        {
            var note = JsonSerializer.Deserialize<NoteJson>(bytes, Json);
            return note is null ? null : new Note(RunStatusText.Parse(note.Status), note.Error, note.EndTime);
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            return null;
        }
    }

    public static void Remove(string runDirectory)
    {
        try
        {
            File.Delete(PathIn(runDirectory));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover reservation is harmless: it holds no note.
        }
    }

    private static string PathIn(string runDirectory) => Path.Combine(runDirectory, FileName);

    /// <summary>The note's JSON, its error cut (at a character boundary) to fit the reservation.</summary>
    private static byte[] Serialize(RunStatus status, string error, long endMs)
    {
        string text = error;
        while (true)
        {
            byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(new NoteJson(RunStatusText.ToText(status), text, endMs), Json);
            if (bytes.Length <= ReservedBytes)
                return bytes;
            int keep = text.Length * ReservedBytes / bytes.Length - 16;
            if (keep > 0 && char.IsLowSurrogate(text[keep]))
                keep--;
            text = text[..Math.Max(0, keep)] + "…";
        }
    }
}
