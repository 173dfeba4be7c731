"""Runs a .tflite model in Arm NN (Debian's python3-pyarmnn) for Distill's ArmNnRunner.

Usage: armnn_run.py MODEL BACKEND INPUT SHAPE OUTPUT
  INPUT   raw little-endian float32 samples laid out as the zoo model takes them (NCHW or flat)
  SHAPE   their shape, comma-separated, batch first
  OUTPUT  where the float32 logits [N, classes] are written (raw little-endian)
Without INPUT, SHAPE and OUTPUT it only loads the model and prints its input and output.

NCHW inputs are transposed to the model's NHWC, flat inputs reshaped to [N, features]; int8 inputs
are quantised with the input tensor's scale and zero point, int8 outputs dequantised. The samples are
run in batches of the model's fixed batch size (the last one padded). Prints one JSON line to stdout, and
"progress DONE TOTAL" lines to stderr about every half second while the samples run.
Exit codes: 0 ok, 3 Arm NN or numpy missing, 1 anything else.
"""
import json
import sys
import time


def main(argv):
    if len(argv) not in (3, 6):
        print(__doc__, file=sys.stderr)
        return 1
    try:
        import numpy as np
        import pyarmnn as ann
    except ImportError as error:
        print(f"cannot import Arm NN's python bindings: {error}", file=sys.stderr)
        return 3

    model_path, backend = argv[1], argv[2]
    parser = ann.ITfLiteParser()
    network = parser.CreateNetworkFromBinaryFile(model_path)
    input_name = parser.GetSubgraphInputTensorNames(0)[0]
    output_name = parser.GetSubgraphOutputTensorNames(0)[0]
    input_binding = parser.GetNetworkInputBindingInfo(0, input_name)
    output_binding = parser.GetNetworkOutputBindingInfo(0, output_name)
    input_info, output_info = input_binding[1], output_binding[1]
    input_shape = [input_info.GetShape()[i] for i in range(input_info.GetNumDimensions())]
    output_shape = [output_info.GetShape()[i] for i in range(output_info.GetNumDimensions())]
    int8 = ann.DataType_QAsymmS8

    runtime = ann.IRuntime(ann.CreationOptions())
    available = [str(b) for b in runtime.GetDeviceSpec().GetSupportedBackends()]
    if backend not in available:
        print(f"Arm NN backend {backend} is not available in this Arm NN build (available: {', '.join(available)})", file=sys.stderr)
        return 1
    optimized, _ = ann.Optimize(network, [ann.BackendId(backend)], runtime.GetDeviceSpec(), ann.OptimizerOptions())
    network_id, _ = runtime.LoadNetwork(optimized)
    info = {
        "backend": backend,
        "input": {"name": input_name, "shape": input_shape, "int8": input_info.GetDataType() == int8},
        "output": {"name": output_name, "shape": output_shape, "int8": output_info.GetDataType() == int8},
    }
    if len(argv) == 3:
        print(json.dumps(info))
        return 0

    input_path, shape_text, output_path = argv[3], argv[4], argv[5]
    shape = [int(d) for d in shape_text.split(",")]
    x = np.fromfile(input_path, dtype="<f4").reshape(shape)
    n = shape[0]
    if len(input_shape) == 4:
        if x.ndim != 4:
            raise ValueError(f"the model takes images {input_shape} (NHWC) but the input has shape {shape}")
        x = x.transpose(0, 2, 3, 1)
    else:
        x = x.reshape(n, -1)
    if list(x.shape[1:]) != input_shape[1:]:
        raise ValueError(f"input samples of shape {list(x.shape[1:])} do not fit the model input {input_shape}")
    if info["input"]["int8"]:
        scale, zero = input_info.GetQuantizationScale(), input_info.GetQuantizationOffset()
        # Multiply by the float32 reciprocal and round half to even, as Distill's FakeQuant does.
        x = np.clip(np.round(x * (np.float32(1) / np.float32(scale))) + zero, -128, 127).astype(np.int8)
    else:
        x = np.ascontiguousarray(x, dtype=np.float32)

    batch = input_shape[0]
    classes = output_shape[-1]
    logits = np.empty((n, classes), dtype=np.float32)
    started = time.perf_counter()
    reported = started
    for start in range(0, n, batch):
        chunk = x[start:start + batch]
        count = chunk.shape[0]
        if count < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - count,) + chunk.shape[1:], dtype=chunk.dtype)])
        input_tensors = ann.make_input_tensors([input_binding], [np.ascontiguousarray(chunk)])
        output_tensors = ann.make_output_tensors([output_binding])
        runtime.EnqueueWorkload(network_id, input_tensors, output_tensors)
        out = ann.workload_tensors_to_ndarray(output_tensors)[0].reshape(batch, classes)[:count]
        if info["output"]["int8"]:
            scale, zero = output_info.GetQuantizationScale(), output_info.GetQuantizationOffset()
            out = (out.astype(np.float32) - zero) * np.float32(scale)
        logits[start:start + count] = out
        now = time.perf_counter()
        if now - reported >= 0.5 or start + count == n:
            print(f"progress {start + count} {n}", file=sys.stderr, flush=True)
            reported = now
    info["inference_seconds"] = time.perf_counter() - started
    info["samples"] = n
    logits.astype("<f4").tofile(output_path)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
