using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Distill.Core.Training;

/// <summary>
/// A container of named binary sections behind a JSON header, sealed with a SHA-256 of its payload:
///
///     "DSTLCKPT" | uint32 format version | int64 payload length | payload | SHA-256(payload)
///     payload = int32 header length | header JSON | (int32 name length | name | int64 length | bytes)*
///
/// The length and the hash let a reader tell a truncated or corrupted file from a valid one before
/// handing any bytes to TorchSharp. Files are written to a temporary name and renamed, so a crash
/// never leaves a half-written checkpoint under the real name.
/// </summary>
public static class CheckpointFile
{
    private static readonly byte[] Magic = "DSTLCKPT"u8.ToArray();
    private const uint FormatVersion = 1;
    private const int HashLength = 32;
    private const int PreambleLength = 8 + 4 + 8;

    public static void Write(string path, string headerJson, IReadOnlyDictionary<string, byte[]> sections)
    {
        using var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            var header = Encoding.UTF8.GetBytes(headerJson);
            writer.Write(header.Length);
            writer.Write(header);
            foreach (var (name, bytes) in sections)
            {
                var nameBytes = Encoding.UTF8.GetBytes(name);
                writer.Write(nameBytes.Length);
                writer.Write(nameBytes);
                writer.Write((long)bytes.Length);
                writer.Write(bytes);
            }
        }
        var payloadBytes = payload.ToArray();

        AtomicFile.Write(path, file =>
        {
            using var writer = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write((long)payloadBytes.Length);
            writer.Write(payloadBytes);
            writer.Write(SHA256.HashData(payloadBytes));
        }, "the checkpoint", $".{Path.GetFileName(path)}.{Environment.ProcessId}{TemporarySuffix}");
    }

    private const string TemporarySuffix = ".tmp";

    /// <summary>
    /// Deletes, in <paramref name="folder"/> and below, the temporary files of writes that never finished
    /// (".&lt;name&gt;.&lt;pid&gt;.tmp", left by a process killed while writing). Only for a folder no other
    /// process writes checkpoints into, e.g. the folder of a run this process owns.
    /// </summary>
    public static void DeleteTemporaryFiles(string folder)
    {
        if (!Directory.Exists(folder))
            return;
        foreach (var file in Directory.EnumerateFiles(folder, ".*" + TemporarySuffix, SearchOption.AllDirectories))
        {
            string name = Path.GetFileName(file);
            string pid = Path.GetExtension(name[..^TemporarySuffix.Length]).TrimStart('.');
            if (pid.Length > 0 && pid.All(char.IsAsciiDigit))
                File.Delete(file);
        }
    }

    public static (string HeaderJson, Dictionary<string, byte[]> Sections) Read(string path)
    {
        if (!File.Exists(path))
            throw new InvalidInputException(Directory.Exists(path) ? $"{path}: is a folder, not a checkpoint file" : $"{path}: checkpoint not found");
        byte[] all;
        try
        {
            all = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new InvalidInputException($"{path}: cannot read checkpoint: {e.Message}", e);
        }

        if (all.Length < PreambleLength || !all.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidInputException($"{path}: not a Distill checkpoint (bad magic bytes)");
        uint version = BitConverter.ToUInt32(all, 8);
        if (version != FormatVersion)
            throw new InvalidInputException($"{path}: checkpoint format version {version} is not supported (expected {FormatVersion})");
        // Read unsigned: a damaged length field (e.g. 2^63) must not turn into a negative size in the message.
        ulong declared = BitConverter.ToUInt64(all, 12);
        long available = Math.Max(0, all.LongLength - PreambleLength - HashLength);
        if (declared < 4)
            throw new InvalidInputException($"{path}: checkpoint is damaged: its length field says {declared} bytes of contents (at least 4)");
        if (declared > (ulong)available)
            throw new InvalidInputException(
                $"{path}: checkpoint is truncated or damaged: its length field says {declared} bytes of contents, but the file ({all.LongLength} bytes) holds {available}");
        if (declared < (ulong)available)
            throw new InvalidInputException($"{path}: checkpoint has {(ulong)available - declared} unexpected trailing bytes");
        long payloadLength = (long)declared;

        var payload = all.AsSpan(PreambleLength, (int)payloadLength);
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(all.AsSpan(PreambleLength + (int)payloadLength, HashLength)))
            throw new InvalidInputException($"{path}: checkpoint is corrupt (SHA-256 of its contents does not match)");

        try
        {
            using var reader = new BinaryReader(new MemoryStream(payload.ToArray()), Encoding.UTF8);
            var header = Encoding.UTF8.GetString(reader.ReadBytes(reader.ReadInt32()));
            var sections = new Dictionary<string, byte[]>();
            while (reader.BaseStream.Position < reader.BaseStream.Length)
            {
                var name = Encoding.UTF8.GetString(reader.ReadBytes(reader.ReadInt32()));
                long length = reader.ReadInt64();
                long left = reader.BaseStream.Length - reader.BaseStream.Position;
                if (length < 0 || length > left)
                    throw new InvalidInputException($"{path}: checkpoint layout is damaged: section '{PrintableText.Escape(name)}' says {(ulong)length} bytes, {left} are left");
                sections[name] = reader.ReadBytes((int)length);
            }
            return (header, sections);
        }
        catch (Exception e) when (e is EndOfStreamException or OverflowException or ArgumentException)
        {
            throw new InvalidInputException($"{path}: checkpoint layout is damaged: {e.Message}", e);
        }
    }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}
