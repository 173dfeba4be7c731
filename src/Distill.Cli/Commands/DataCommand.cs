using System.CommandLine;
using Distill.Core;
using Distill.Core.Data;
using Distill.Recipes;

namespace Distill.Cli.Commands;

/// <summary>`distill data image-folder`: writes IDX images as an image folder of PNGs (one sub-folder per label), from a
/// recipe's IDX data (train/ and test/) or from one IDX images file.</summary>
public static class DataCommand
{
    private static readonly Argument<string> Source = new("source")
    {
        Description = "A recipe with data.format idx (writes <out>/train and <out>/test), or an IDX images file (writes <out>)",
    };

    private static readonly Option<string> Out = new("--out") { Description = "Folder to create (must not exist, or be empty)", Required = true };

    public static Command Create()
    {
        var imageFolder = new Command("image-folder", "Write IDX images as an image folder: one sub-folder per label, one grey PNG per image.")
        {
            Source, Out, EvalCommand.Labels,
        };
        imageFolder.SetAction(parse =>
        {
            string source = parse.GetValue(Source)!;
            string output = parse.GetValue(Out)!;
            var counts = ImageFolderWriter.Write(Pairs(source, parse.GetValue(EvalCommand.Labels)), output);
            Console.Out.WriteLine($"{Path.GetFullPath(output)}: wrote {string.Join(" + ", counts.Select(c => c.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)))} PNG images");
            return ExitCodes.Success;
        });
        return new Command("data", "Prepare data sets.") { imageFolder };
    }

    private static IReadOnlyList<(string SubFolder, IdxFiles Files)> Pairs(string source, string? labels)
    {
        if (Path.GetExtension(source).ToLowerInvariant() is ".yaml" or ".yml")
        {
            if (labels is not null)
                throw new InvalidInputException($"{source}: --labels is for an IDX images file; a recipe names its own label files");
            var data = RecipeLoader.Load(source, devices: DeviceSupport.Any).Data;
            if (data.Format != DataFormat.Idx)
                throw new InvalidInputException($"{source}: data.format is {data.Format.ToString().ToLowerInvariant()}; an image folder is written from IDX data (data.format: idx)");
            return [("train", data.TrainIdx!), ("test", data.TestIdx!)];
        }
        // As eval does for an IDX file: the labels file beside the images unless given.
        string labelFile = labels ?? source.Replace("images-idx3", "labels-idx1", StringComparison.Ordinal);
        if (labelFile == source)
            throw new InvalidInputException($"{source}: give the IDX labels file with --labels (its name does not contain 'images-idx3')");
        return [("", new IdxFiles(Path.GetFullPath(source), Path.GetFullPath(labelFile)))];
    }
}
