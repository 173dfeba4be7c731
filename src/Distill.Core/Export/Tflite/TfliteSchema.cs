namespace Distill.Core.Export.Tflite;

/// <summary>The numbers of TensorFlow Lite's schema.fbs (schema version 3) that the writer needs.
/// A FlatBuffers field's vtable slot is its index in the table declaration; a union field takes
/// two slots, its type first.</summary>
internal static class TfliteSchema
{
    public const string FileIdentifier = "TFL3";
    public const uint Version = 3;

    public enum TensorType : sbyte
    {
        Float32 = 0,
        Int32 = 2,
        Int8 = 9,
    }

    public enum BuiltinOperator
    {
        Add = 0,
        Conv2D = 3,
        DepthwiseConv2D = 4,
        Dequantize = 6,
        FullyConnected = 9,
        MaxPool2D = 17,
        Reshape = 22,
        Pad = 34,
        Mean = 40,
        Quantize = 114,
    }

    /// <summary>Member numbers of the BuiltinOptions union (0 = NONE).</summary>
    public enum BuiltinOptions : byte
    {
        None = 0,
        Conv2DOptions = 1,
        DepthwiseConv2DOptions = 2,
        Pool2DOptions = 5,
        FullyConnectedOptions = 8,
        AddOptions = 11,
        ReshapeOptions = 17,
        PadOptions = 22,
        ReducerOptions = 27,
        DequantizeOptions = 38,
        QuantizeOptions = 89,
    }

    public enum Padding : sbyte
    {
        Same = 0,
        Valid = 1,
    }

    public enum Activation : sbyte
    {
        None = 0,
        Relu = 1,
        Relu6 = 3,
    }

    public static class ModelFields
    {
        public const int Count = 8;
        public const int Version = 0;
        public const int OperatorCodes = 1;
        public const int Subgraphs = 2;
        public const int Description = 3;
        public const int Buffers = 4;
        public const int Metadata = 6;
    }

    public static class SubGraphFields
    {
        public const int Count = 5;
        public const int Tensors = 0;
        public const int Inputs = 1;
        public const int Outputs = 2;
        public const int Operators = 3;
        public const int Name = 4;
    }

    public static class BufferFields
    {
        public const int Count = 1;
        public const int Data = 0;
        /// <summary>schema.fbs: data:[ubyte] (force_align: 16).</summary>
        public const int DataAlignment = 16;
    }

    public static class MetadataFields
    {
        public const int Count = 2;
        public const int Name = 0;
        public const int Buffer = 1;
    }

    public static class OperatorCodeFields
    {
        public const int Count = 4;
        /// <summary>The byte-sized code older readers use; builtin codes below 127 go in both fields.</summary>
        public const int DeprecatedBuiltinCode = 0;
        public const int Version = 2;
        public const int BuiltinCode = 3;
    }

    public static class OperatorFields
    {
        public const int Count = 5;
        public const int OpcodeIndex = 0;
        public const int Inputs = 1;
        public const int Outputs = 2;
        public const int BuiltinOptionsType = 3;
        public const int BuiltinOptions = 4;
    }

    public static class TensorFields
    {
        public const int Count = 5;
        public const int Shape = 0;
        public const int Type = 1;
        public const int Buffer = 2;
        public const int Name = 3;
        public const int Quantization = 4;
    }

    public static class QuantizationParametersFields
    {
        public const int Count = 7;
        public const int Scale = 2;
        public const int ZeroPoint = 3;
        public const int QuantizedDimension = 6;
    }

    public static class Conv2DOptionsFields
    {
        public const int Count = 6;
        public const int Padding = 0;
        public const int StrideW = 1;
        public const int StrideH = 2;
        public const int FusedActivation = 3;
        public const int DilationW = 4;
        public const int DilationH = 5;
    }

    public static class DepthwiseConv2DOptionsFields
    {
        public const int Count = 7;
        public const int Padding = 0;
        public const int StrideW = 1;
        public const int StrideH = 2;
        public const int DepthMultiplier = 3;
        public const int FusedActivation = 4;
        public const int DilationW = 5;
        public const int DilationH = 6;
    }

    public static class Pool2DOptionsFields
    {
        public const int Count = 6;
        public const int Padding = 0;
        public const int StrideW = 1;
        public const int StrideH = 2;
        public const int FilterWidth = 3;
        public const int FilterHeight = 4;
        public const int FusedActivation = 5;
    }

    public static class FullyConnectedOptionsFields
    {
        public const int Count = 1;
        public const int FusedActivation = 0;
    }

    public static class ReshapeOptionsFields
    {
        public const int Count = 1;
        public const int NewShape = 0;
    }

    public static class AddOptionsFields
    {
        public const int Count = 1;
        public const int FusedActivation = 0;
    }

    public static class ReducerOptionsFields
    {
        public const int Count = 1;
        public const int KeepDims = 0;
    }
}
