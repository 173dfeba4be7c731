namespace Distill.Core.Data;

/// <summary>How a model's training samples were read from their files, before normalisation. Checkpoints and
/// model cards record it, so that a bare data file given later (eval, export, calibrate) is read the same way.</summary>
/// <param name="Format">The training files' format.</param>
/// <param name="Scale">Features were divided by this: 255 for IDX bytes, the recipe's scale for CSV.</param>
/// <param name="Header">Whether the training CSV's first row was a header (false for IDX).</param>
/// <param name="LabelColumn">The training CSV's label column by header name; null: the last column.</param>
/// <param name="ClassNames">The name of each class in label order, when the data names its classes (image folders'
/// sub-folders, CSV string labels); null: classes are numbered.</param>
/// <param name="Features">The training CSV's feature columns by name, when the recipe named them; null: every column but the label.</param>
public sealed record DataReading(DataFormat Format, double Scale, bool Header, string? LabelColumn, IReadOnlyList<string>? ClassNames = null,
    IReadOnlyList<string>? Features = null)
{
    public const double IdxScale = 255.0;

    /// <summary>Null for text corpora (language models record their tokenizer instead).</summary>
    public static DataReading? Of(DataOptions options) => options.Format switch
    {
        DataFormat.Idx => new DataReading(DataFormat.Idx, IdxScale, false, null),
        DataFormat.Csv => new DataReading(DataFormat.Csv, options.CsvScale, options.CsvHasHeader, options.LabelColumn, Features: options.CsvFeatures),
        DataFormat.ImageFolder => new DataReading(DataFormat.ImageFolder, IdxScale, false, null),
        _ => null,
    };

    /// <summary>The format as recipes and model cards spell it (idx, csv, image_folder).</summary>
    public string FormatName => Format == DataFormat.ImageFolder ? "image_folder" : Format.ToString().ToLowerInvariant();
}
