using Google.FlatBuffers;
using static Distill.Core.Export.Tflite.TfliteSchema;

namespace Distill.Core.Export.Tflite;

/// <summary>The builtin options table of one operator.</summary>
internal abstract record TfliteOptions
{
    public abstract BuiltinOptions Type { get; }

    /// <summary>Writes the table and returns its offset.</summary>
    public abstract int Write(FlatBufferBuilder builder);
}

internal sealed record Conv2DOptionsTable(Padding Padding, int Stride, Activation Activation) : TfliteOptions
{
    public override BuiltinOptions Type => BuiltinOptions.Conv2DOptions;

    public override int Write(FlatBufferBuilder builder)
    {
        builder.StartTable(Conv2DOptionsFields.Count);
        builder.AddSbyte(Conv2DOptionsFields.Padding, (sbyte)Padding, -1);
        builder.AddInt(Conv2DOptionsFields.StrideW, Stride, 0);
        builder.AddInt(Conv2DOptionsFields.StrideH, Stride, 0);
        builder.AddSbyte(Conv2DOptionsFields.FusedActivation, (sbyte)Activation, -1);
        builder.AddInt(Conv2DOptionsFields.DilationW, 1, 0);
        builder.AddInt(Conv2DOptionsFields.DilationH, 1, 0);
        return builder.EndTable();
    }
}

internal sealed record DepthwiseConv2DOptionsTable(Padding Padding, int Stride, Activation Activation) : TfliteOptions
{
    public override BuiltinOptions Type => BuiltinOptions.DepthwiseConv2DOptions;

    public override int Write(FlatBufferBuilder builder)
    {
        builder.StartTable(DepthwiseConv2DOptionsFields.Count);
        builder.AddSbyte(DepthwiseConv2DOptionsFields.Padding, (sbyte)Padding, -1);
        builder.AddInt(DepthwiseConv2DOptionsFields.StrideW, Stride, 0);
        builder.AddInt(DepthwiseConv2DOptionsFields.StrideH, Stride, 0);
        builder.AddInt(DepthwiseConv2DOptionsFields.DepthMultiplier, 1, 0);
        builder.AddSbyte(DepthwiseConv2DOptionsFields.FusedActivation, (sbyte)Activation, -1);
        builder.AddInt(DepthwiseConv2DOptionsFields.DilationW, 1, 0);
        builder.AddInt(DepthwiseConv2DOptionsFields.DilationH, 1, 0);
        return builder.EndTable();
    }
}

internal sealed record Pool2DOptionsTable(Padding Padding, int Stride, int Filter) : TfliteOptions
{
    public override BuiltinOptions Type => BuiltinOptions.Pool2DOptions;

    public override int Write(FlatBufferBuilder builder)
    {
        builder.StartTable(Pool2DOptionsFields.Count);
        builder.AddSbyte(Pool2DOptionsFields.Padding, (sbyte)Padding, -1);
        builder.AddInt(Pool2DOptionsFields.StrideW, Stride, 0);
        builder.AddInt(Pool2DOptionsFields.StrideH, Stride, 0);
        builder.AddInt(Pool2DOptionsFields.FilterWidth, Filter, 0);
        builder.AddInt(Pool2DOptionsFields.FilterHeight, Filter, 0);
        builder.AddSbyte(Pool2DOptionsFields.FusedActivation, (sbyte)TfliteSchema.Activation.None, -1);
        return builder.EndTable();
    }
}

internal sealed record FullyConnectedOptionsTable(Activation Activation) : TfliteOptions
{
    public override BuiltinOptions Type => BuiltinOptions.FullyConnectedOptions;

    public override int Write(FlatBufferBuilder builder)
    {
        builder.StartTable(FullyConnectedOptionsFields.Count);
        builder.AddSbyte(FullyConnectedOptionsFields.FusedActivation, (sbyte)Activation, -1);
        return builder.EndTable();
    }
}

internal sealed record ReshapeOptionsTable(int[] NewShape) : TfliteOptions
{
    public override BuiltinOptions Type => BuiltinOptions.ReshapeOptions;

    public override int Write(FlatBufferBuilder builder)
    {
        var shape = TfliteWriter.IntVector(builder, NewShape);
        builder.StartTable(ReshapeOptionsFields.Count);
        builder.AddOffset(ReshapeOptionsFields.NewShape, shape.Value, 0);
        return builder.EndTable();
    }
}

internal sealed record AddOptionsTable(Activation Activation) : TfliteOptions
{
    public override BuiltinOptions Type => BuiltinOptions.AddOptions;

    public override int Write(FlatBufferBuilder builder)
    {
        builder.StartTable(AddOptionsFields.Count);
        builder.AddSbyte(AddOptionsFields.FusedActivation, (sbyte)Activation, -1);
        return builder.EndTable();
    }
}

/// <summary>Options of MEAN and the other reductions.</summary>
internal sealed record ReducerOptionsTable(bool KeepDims) : TfliteOptions
{
    public override BuiltinOptions Type => BuiltinOptions.ReducerOptions;

    public override int Write(FlatBufferBuilder builder)
    {
        builder.StartTable(ReducerOptionsFields.Count);
        builder.AddBool(ReducerOptionsFields.KeepDims, KeepDims, false);
        return builder.EndTable();
    }
}

/// <summary>PAD's options table has no fields.</summary>
internal sealed record PadOptionsTable : TfliteOptions
{
    public override BuiltinOptions Type => BuiltinOptions.PadOptions;

    public override int Write(FlatBufferBuilder builder)
    {
        builder.StartTable(0);
        return builder.EndTable();
    }
}
