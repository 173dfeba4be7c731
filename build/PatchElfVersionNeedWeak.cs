using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Sets VER_FLG_WEAK on one Elf64_Vernaux entry of an ELF64 little-endian shared library, but only
// when none of the host's libstdc++ candidates defines that version, or always (Always=true: a tool
// package is installed on other hosts than the one that packed it; a weak requirement still binds
// where the version exists). Rewrites the file in place through a temporary copy, so an interrupted
// build never leaves a half-patched library.
public class PatchElfVersionNeedWeak : Task
{
    [Required] public string LibraryPath { get; set; } = "";
    [Required] public string VersionName { get; set; } = "";
    [Required] public string[] HostLibraries { get; set; } = Array.Empty<string>();
    public bool Always { get; set; }

    private const ushort VerFlgWeak = 0x2;
    private const uint ShtGnuVerneed = 0x6ffffffe;

    public override bool Execute()
    {
        var host = HostLibraries.FirstOrDefault(File.Exists);
        if (Always)
        {
            // Patch whatever the host has.
        }
        else if (host == null)
        {
            Log.LogMessage(MessageImportance.Low, "No host libstdc++ found; leaving {0} alone.", LibraryPath);
            return true;
        }
        else if (ContainsAscii(File.ReadAllBytes(host), VersionName))
        {
            Log.LogMessage(MessageImportance.Low, "{0} provides {1}; no patch needed.", host, VersionName);
            return true;
        }

        var bytes = File.ReadAllBytes(LibraryPath);
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[4] != 2 || bytes[5] != 1)
        {
            Log.LogError("{0} is not a 64-bit little-endian ELF file.", LibraryPath);
            return false;
        }

        ulong shoff = BitConverter.ToUInt64(bytes, 0x28);
        int shentsize = BitConverter.ToUInt16(bytes, 0x3A);
        int shnum = BitConverter.ToUInt16(bytes, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)shoff + i * shentsize);
            if (BitConverter.ToUInt32(bytes, sh + 4) != ShtGnuVerneed) continue;
            int offset = checked((int)BitConverter.ToUInt64(bytes, sh + 0x18));
            int link = (int)BitConverter.ToUInt32(bytes, sh + 0x28);
            int strtab = checked((int)BitConverter.ToUInt64(bytes, (int)shoff + link * shentsize + 0x18));

            int need = offset;
            while (true)
            {
                int count = BitConverter.ToUInt16(bytes, need + 2);
                int aux = need + (int)BitConverter.ToUInt32(bytes, need + 8);
                for (int a = 0; a < count; a++)
                {
                    int nameOffset = strtab + (int)BitConverter.ToUInt32(bytes, aux + 8);
                    if (ReadCString(bytes, nameOffset) == VersionName)
                    {
                        ushort flags = BitConverter.ToUInt16(bytes, aux + 4);
                        if ((flags & VerFlgWeak) != 0)
                        {
                            Log.LogMessage(MessageImportance.Low, "{0}: {1} already weak.", LibraryPath, VersionName);
                            return true;
                        }
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(bytes, aux + 4);
                        var temp = LibraryPath + ".patching";
                        File.WriteAllBytes(temp, bytes);
                        File.Replace(temp, LibraryPath, null);
                        Log.LogMessage(MessageImportance.High, "Marked {0} weak in {1} ({2}).", VersionName, LibraryPath,
                            Always ? "for a package" : "host libstdc++ lacks it");
                        return true;
                    }
                    uint nextAux = BitConverter.ToUInt32(bytes, aux + 12);
                    if (nextAux == 0) break;
                    aux += (int)nextAux;
                }
                uint next = BitConverter.ToUInt32(bytes, need + 12);
                if (next == 0) break;
                need += (int)next;
            }
        }
        Log.LogMessage(MessageImportance.Low, "{0} does not require {1}.", LibraryPath, VersionName);
        return true;
    }

    private static string ReadCString(byte[] bytes, int start)
    {
        int end = start;
        while (end < bytes.Length && bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, start, end - start);
    }

    private static bool ContainsAscii(byte[] haystack, string needle)
    {
        var pattern = Encoding.ASCII.GetBytes(needle + "\0");
        for (int i = 0; i + pattern.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < pattern.Length && haystack[i + j] == pattern[j]) j++;
            if (j == pattern.Length) return true;
        }
        return false;
    }
}
