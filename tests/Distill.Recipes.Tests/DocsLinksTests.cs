using System.Text;
using System.Text.RegularExpressions;

namespace Distill.Recipes.Tests;

/// <summary>Every relative link in README.md and docs/*.md leads to a file of the repository and, when it
/// names an anchor, to a heading of that file (GitHub's rule for heading anchors).</summary>
public partial class DocsLinksTests
{
    private static readonly string Root = FindRoot();

    public static TheoryData<string> Pages()
    {
        var pages = new TheoryData<string> { "README.md" };
        foreach (var file in Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Order(StringComparer.Ordinal))
            pages.Add(Path.GetRelativePath(Root, file).Replace('\\', '/'));
        return pages;
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void Relative_links_lead_to_existing_files_and_headings(string page)
    {
        string path = Path.Combine(Root, page);
        var broken = new List<string>();
        foreach (var (line, target) in Links(File.ReadAllText(path)))
        {
            if (Uri.TryCreate(target, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "mailto")
                continue;
            string file = target;
            string? anchor = null;
            int hash = target.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
            {
                file = target[..hash];
                anchor = target[(hash + 1)..];
            }
            string resolved = file.Length == 0 ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, Uri.UnescapeDataString(file)));
            if (!File.Exists(resolved) && !Directory.Exists(resolved))
            {
                broken.Add($"{page}:{line}: {target}: no file {Path.GetRelativePath(Root, resolved)}");
                continue;
            }
            if (anchor is not null && (!resolved.EndsWith(".md", StringComparison.Ordinal) || !Anchors(File.ReadAllText(resolved)).Contains(anchor)))
                broken.Add($"{page}:{line}: {target}: no heading with anchor #{anchor} in {Path.GetRelativePath(Root, resolved)}");
        }
        Assert.True(broken.Count == 0, string.Join('\n', broken));
    }

    [Fact]
    public void The_checker_finds_broken_links_and_anchors()
    {
        const string markdown = """
            # A title
            ## Two words: `code`
            See [here](#two-words-code), [gone](#nothing), [ok](#a-title).
            ```
            # not a heading
            [not a link](nowhere.md)
            ```
            """;
        Assert.Equal(["a-title", "two-words-code"], Anchors(markdown).Order(StringComparer.Ordinal));
        Assert.Equal([(3, "#two-words-code"), (3, "#nothing"), (3, "#a-title")], Links(markdown));
        Assert.Equal("overrides---set", Slug("Overrides (`--set`)"));
        Assert.Equal("int8-for-cpus-first_layer-float", Slug("Int8 for CPUs: `first_layer: float`"));
    }

    /// <summary>Links outside fenced code blocks and inline code, with their 1-based line numbers.</summary>
    private static List<(int Line, string Target)> Links(string markdown)
    {
        var links = new List<(int, string)>();
        int number = 0;
        foreach (var line in Prose(markdown))
        {
            number++;
            if (line is null)
                continue;
            foreach (Match m in LinkPattern().Matches(InlineCode().Replace(line, "")))
                links.Add((number, m.Groups[1].Value));
        }
        return links;
    }

    /// <summary>GitHub's heading anchors: the slug of each heading, with -1, -2, … for repeats.</summary>
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in Prose(markdown))
        {
            var heading = line is null ? null : HeadingPattern().Match(line);
            if (heading is not { Success: true })
                continue;
            string slug = Slug(heading.Groups[1].Value);
            int count = seen.GetValueOrDefault(slug);
            seen[slug] = count + 1;
            anchors.Add(count == 0 ? slug : $"{slug}-{count}");
        }
        return anchors;
    }

    private static string Slug(string heading)
    {
        var slug = new StringBuilder();
        foreach (char c in heading.Trim().ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c is '-' or '_')
                slug.Append(c);
            else if (c == ' ')
                slug.Append('-');
        }
        return slug.ToString();
    }

    /// <summary>The lines of the file, null inside fenced code blocks (and for the fences).</summary>
    private static IEnumerable<string?> Prose(string markdown)
    {
        bool fenced = false;
        foreach (var line in markdown.ReplaceLineEndings("\n").Split('\n'))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
                yield return null;
                continue;
            }
            yield return fenced ? null : line;
        }
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Distill.sln")))
            dir = dir.Parent;
        Assert.NotNull(dir);
        return dir.FullName;
    }

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"`[^`]*`")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"^#{1,6}\s+(.+?)\s*#*\s*$")]
    private static partial Regex HeadingPattern();
}
