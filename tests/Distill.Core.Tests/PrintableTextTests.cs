namespace Distill.Core.Tests;

public class PrintableTextTests
{
    [Theory]
    // ESC sequences (colour, window title with BEL, clear screen), CR, backspace, DEL, C1 CSI, and the bidi override.
    [InlineData("a\u001b[31mred", @"a\u001b[31mred")]
    [InlineData("\u001b]0;title\u0007", @"\u001b]0;title\u0007")]
    [InlineData("ok\rfake", @"ok\u000dfake")]
    [InlineData("x\by\u007f", @"x\u0008y\u007f")]
    [InlineData("\u009b2J", @"\u009b2J")]
    [InlineData("abc\u202Etxt.exe", @"abc\u202etxt.exe")]
    [InlineData("two\nlines\tand tab", @"two\u000alines\u0009and tab")]
    [InlineData("plain ünïcode [x] 1.5", "plain ünïcode [x] 1.5")]
    public void Escape_shows_every_control_character_as_a_code(string text, string expected)
    {
        Assert.Equal(expected, PrintableText.Escape(text));
    }

    [Fact]
    public void EscapeLines_keeps_line_breaks_and_tabs_only()
    {
        Assert.Equal("first\nsecond\t\\u001b[2J\\u000d", PrintableText.EscapeLines("first\nsecond\t\u001b[2J\r"));
    }
}
