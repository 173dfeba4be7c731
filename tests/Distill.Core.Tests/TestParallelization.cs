// TorchSharp 0.107 passes an implicit Scalar (e.g. Adam's alpha: 1 - beta1, the alpha 1 of a + b) to LibTorch by its handle
// alone; once the handle is read the Scalar is unreachable, and a garbage collection started by another thread can finalise
// it while LibTorch still reads it ("Expected false to be true ... toFloat", seen in CI in ExportModelsFixture's Adam.step).
// src/Distill.Core's training path no longer does this (ScalarMath, ScalarSafeOptimizers; Training/ScalarLifetimeTests),
// but the tests themselves still do: about 120 implicit Scalars in test code and a dozen fixtures stepping TorchSharp's own
// optim.Adam/SGD/AdamW. Test classes running in parallel are the other threads: run this assembly's tests one at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
