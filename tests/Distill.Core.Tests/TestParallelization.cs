// TorchSharp 0.107 passes an implicit Scalar (e.g. Adam's alpha: 1 - beta1) to LibTorch by its handle alone; once the
// handle is read the Scalar is unreachable, and a garbage collection started by another thread can finalise it while
// LibTorch still reads it ("Expected false to be true ... toFloat", seen in CI in ExportModelsFixture's Adam.step).
// Test classes running in parallel are the other threads: run this assembly's tests one at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
