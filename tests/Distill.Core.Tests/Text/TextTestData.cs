using Distill.Core.Tests.Data;

namespace Distill.Core.Tests.Text;

internal static class TextTestData
{
    public static string Corpus => Path.Combine(TestData.DataDir, "text", "pride-and-prejudice.txt");

    public static string NewTempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"distill-lm-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
