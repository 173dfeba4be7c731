namespace Distill.Core.Text;

/// <summary>A model whose tokenizer and context are fixed by its file: a checkpoint or an ONNX teacher.</summary>
internal sealed record TokenizerSource(string Role, string Path, ITokenizer Tokenizer, int Context);

/// <summary>The one tokenizer teacher and student of a language-model run share.</summary>
internal static class LmTokenizers
{
    public static TokenizerSource? FromCheckpoint(string role, string? path)
    {
        if (path is null)
            return null;
        var (model, saved) = LmCheckpoint.Describe(path);
        return new TokenizerSource(role, path, saved, model.Context);
    }

    /// <summary>The tokenizer saved in the teacher's file (checkpoint or ONNX model card) or the student's checkpoint
    /// (they must agree with each other and with data.tokenizer), or null when no model is loaded from a file.</summary>
    public static ITokenizer? Shared(TextDataOptions options, params TokenizerSource?[] sources)
    {
        ITokenizer? tokenizer = null;
        string? first = null;
        foreach (var source in sources)
        {
            if (source is null)
                continue;
            var (role, path, saved, context) = source;
            if (saved.Kind != options.Tokenizer)
                throw new InvalidInputException(
                    $"{path}: the {role} reads {saved.Kind} tokens ({saved.VocabSize}), but data.tokenizer is {options.Tokenizer}: teacher and student must share one vocabulary");
            if (tokenizer is not null && TokenizerFile.ToJson(tokenizer) != TokenizerFile.ToJson(saved))
                throw new InvalidInputException(
                    $"{path}: the {role}'s vocabulary ({saved.VocabSize} tokens) differs from that of {first} ({tokenizer.VocabSize} tokens): teacher and student must share one vocabulary");
            if (context < options.Context)
                throw new InvalidInputException(
                    $"{path}: the {role} has a context of {context} tokens, shorter than data.context ({options.Context})");
            tokenizer ??= saved;
            first ??= path;
        }
        return tokenizer;
    }
}
