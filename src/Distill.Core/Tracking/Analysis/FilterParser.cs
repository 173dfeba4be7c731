using System.Globalization;

namespace Distill.Core.Tracking.Analysis;

/// <summary>
/// Parses run filters: <c>field op value [and|or field op value]…</c> with optional parentheses;
/// "and" binds tighter than "or". Fields: see <see cref="RunField"/>; a key with spaces is written in
/// backticks (metrics.`my key`). Operators: = (or ==) != &gt; &gt;= &lt; &lt;= and like (SQL-style, % and _).
/// Values: numbers, or strings in single or double quotes. Errors name the 1-based column.
/// </summary>
public sealed class FilterParser
{
    private readonly string _text;
    private int _position;

    private FilterParser(string text)
    {
        _text = text;
    }

    public static FilterExpression Parse(string filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var parser = new FilterParser(filter);
        parser.SkipSpaces();
        if (parser.AtEnd)
            throw parser.Error("the filter is empty; expected a field such as metrics.val/acc");
        var expression = parser.ParseOr();
        parser.SkipSpaces();
        if (!parser.AtEnd)
        {
            throw parser.Peek() == ')'
                ? parser.Error("unmatched ')'")
                : parser.Error($"expected 'and', 'or' or the end of the filter, found '{parser.Word()}'");
        }
        return expression;
    }

    private bool AtEnd => _position >= _text.Length;

    private int Column => _position + 1;

    private char Peek() => _text[_position];

    private FilterExpression ParseOr()
    {
        var left = ParseAnd();
        while (TryKeyword("or"))
            left = new FilterOr(left, ParseAnd());
        return left;
    }

    private FilterExpression ParseAnd()
    {
        var left = ParsePrimary();
        while (TryKeyword("and"))
            left = new FilterAnd(left, ParsePrimary());
        return left;
    }

    private FilterExpression ParsePrimary()
    {
        SkipSpaces();
        if (AtEnd)
            throw Error("expected a field or '(' here");
        if (Peek() == '(')
        {
            int open = Column;
            _position++;
            var inner = ParseOr();
            SkipSpaces();
            if (AtEnd || Peek() != ')')
                throw Error($"expected ')' to close the '(' at column {open}");
            _position++;
            return inner;
        }
        return ParseComparison();
    }

    private FilterComparison ParseComparison()
    {
        int fieldColumn = Column;
        var field = ParseField();
        SkipSpaces();
        int operatorColumn = Column;
        var op = ParseOperator(field);
        string opText = _text[(operatorColumn - 1)..(_position)];
        SkipSpaces();
        int valueColumn = Column;
        if (AtEnd)
            throw Error($"expected a value after '{opText}'");

        double? number = null;
        string? text = null;
        char c = Peek();
        if (c is '\'' or '"')
            text = ParseQuoted(c);
        else if (char.IsAsciiDigit(c) || c is '-' or '+' or '.')
            number = ParseNumber();
        else
            throw Error($"expected a value after '{opText}' (a number, or a string in quotes), found '{Word()}'");

        if (op == FilterOperator.Like && text is null)
            throw new FilterSyntaxException(_text, valueColumn, "'like' compares with a quoted pattern, e.g. 'cnn%'");
        if (field.IsNumeric && text is not null)
            throw new FilterSyntaxException(_text, valueColumn, $"{field} is a number; compare it with a number, not a string");
        if (field is { Kind: RunFieldKind.Attribute, Key: "start_time" } && text is not null && !TryParseTime(text, out _))
            throw new FilterSyntaxException(_text, valueColumn, $"'{text}' is not a time; write e.g. '2026-05-01' or '2026-05-01T12:30:00Z'");
        if (field is { Kind: RunFieldKind.Attribute, Key: "status" } && text is not null && op != FilterOperator.Like
            && text is not ("RUNNING" or "FINISHED" or "FAILED" or "KILLED"))
            throw new FilterSyntaxException(_text, valueColumn, $"unknown status '{text}'; statuses are RUNNING, FINISHED, FAILED, KILLED");
        return new FilterComparison(field, op, number, text, fieldColumn);
    }

    private RunField ParseField()
    {
        int start = _position;
        while (!AtEnd && (IsFieldChar(Peek()) || Peek() == '`'))
        {
            if (Peek() == '`')
            {
                int close = _text.IndexOf('`', _position + 1);
                if (close < 0)
                    throw Error("unclosed '`'");
                _position = close + 1;
                continue;
            }
            _position++;
        }
        if (_position == start)
        {
            throw AtEnd ? Error("expected a field such as metrics.val/acc")
                : Error($"expected a field such as metrics.val/acc, found '{Word()}'");
        }
        string raw = _text[start.._position];
        var field = RunField.TryParse(raw.Replace("`", "", StringComparison.Ordinal), out string problem);
        return field ?? throw new FilterSyntaxException(_text, start + 1, problem);
    }

    private FilterOperator ParseOperator(RunField field)
    {
        if (AtEnd)
            throw Error($"expected an operator after {field} (= != > >= < <= like)");
        string rest = _text[_position..];
        foreach (var (symbol, op) in Operators)
        {
            if (rest.StartsWith(symbol, StringComparison.Ordinal))
            {
                _position += symbol.Length;
                return op;
            }
        }
        if (TryKeyword("like"))
        {
            if (field.IsNumeric)
                throw new FilterSyntaxException(_text, _position - 3, $"{field} is a number; 'like' compares strings");
            return FilterOperator.Like;
        }
        throw Error($"expected an operator after {field} (= != > >= < <= like), found '{Word()}'");
    }

    private static readonly (string Symbol, FilterOperator Op)[] Operators =
    [
        ("==", FilterOperator.Equal), ("!=", FilterOperator.NotEqual), ("<>", FilterOperator.NotEqual),
        (">=", FilterOperator.GreaterOrEqual), ("<=", FilterOperator.LessOrEqual),
        ("=", FilterOperator.Equal), (">", FilterOperator.Greater), ("<", FilterOperator.Less),
    ];

    private string ParseQuoted(char quote)
    {
        int open = Column;
        int close = _text.IndexOf(quote, _position + 1);
        if (close < 0)
            throw new FilterSyntaxException(_text, open, $"the string that starts here is never closed (missing {quote})");
        string value = _text[(_position + 1)..close];
        _position = close + 1;
        return value;
    }

    private double ParseNumber()
    {
        int start = _position;
        while (!AtEnd && (char.IsAsciiLetterOrDigit(Peek()) || Peek() is '.' or '-' or '+'))
            _position++;
        string token = _text[start.._position];
        if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            throw new FilterSyntaxException(_text, start + 1, $"'{token}' is not a number");
        return value;
    }

    /// <summary>Consumes the keyword (case-insensitive, as a whole word) if it comes next.</summary>
    private bool TryKeyword(string keyword)
    {
        SkipSpaces();
        if (_position + keyword.Length > _text.Length
            || !_text.AsSpan(_position, keyword.Length).Equals(keyword, StringComparison.OrdinalIgnoreCase))
            return false;
        int end = _position + keyword.Length;
        if (end < _text.Length && (IsFieldChar(_text[end]) || _text[end] == '`'))
            return false;
        _position = end;
        return true;
    }

    private void SkipSpaces()
    {
        while (!AtEnd && char.IsWhiteSpace(Peek()))
            _position++;
    }

    /// <summary>The word at the cursor, for error messages.</summary>
    private string Word()
    {
        int end = _position;
        while (end < _text.Length && !char.IsWhiteSpace(_text[end]) && (end == _position || IsFieldChar(_text[end])))
            end++;
        return _text[_position..end];
    }

    private FilterSyntaxException Error(string problem) => new(_text, Column, problem);

    private static bool IsFieldChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '/' or '-' or ':' or '[' or ']';

    /// <summary>An ISO date or date-time; without a zone it is UTC.</summary>
    public static bool TryParseTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
}
