using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Training;

/// <summary>TorchSharp's Adam, AdamW and SGD with a step whose Scalars outlive the native calls that read them.</summary>
/// <remarks>TorchSharp 0.107's own <c>step</c> passes implicit Scalars (<c>mul_(beta1)</c>, <c>add_(grad, alpha: 1 - beta1)</c>,
/// <c>addcdiv_(…, value: -step_size)</c>, <c>tensor / double</c>) to LibTorch by their handle alone. Once the handle is read the
/// Scalar is unreachable, so a garbage collection started by any thread while LibTorch runs can finalise it mid-call and
/// LibTorch reads freed memory: "Expected false to be true … toFloat at c10/core/Scalar.h" (a 50-epoch KD run failed so at
/// epoch 19; ScalarLifetimeTests reproduces it in about a second). TorchSharp's open fix (dotnet/TorchSharp#1434, #1496)
/// disposes such Scalars right after the call; these subclasses do that here: each step makes its Scalars explicitly, holds
/// them in <c>using</c> locals until the calls that read them return, and disposes them. The arithmetic is TorchSharp's,
/// op for op, and the state (moments, step counts, momentum buffers) is the base class's, so checkpoints written before
/// load unchanged.</remarks>
internal static class ScalarSafeOptimizers
{
    public static optim.Optimizer Adam(IEnumerable<Parameter> parameters, double lr, double beta1, double beta2, double weightDecay) =>
        new SafeAdam(parameters, lr, beta1, beta2, weightDecay);

    public static optim.Optimizer AdamW(IEnumerable<Parameter> parameters, double lr, double beta1, double beta2, double weightDecay) =>
        new SafeAdamW(parameters, lr, beta1, beta2, weightDecay);

    public static optim.Optimizer Sgd(IEnumerable<Parameter> parameters, double lr, double momentum, double weightDecay, bool nesterov) =>
        new SafeSgd(parameters, lr, momentum, weightDecay, nesterov);

    private sealed class SafeAdam(IEnumerable<Parameter> parameters, double lr, double beta1, double beta2, double weightDecay)
        : TorchSharp.Modules.Adam(parameters, lr, beta1, beta2, weight_decay: weightDecay)
    {
        public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
        {
            var options = (Options)group.Options;
            var moments = new AdamScalars(options.beta1!.Value, options.beta2!.Value, options.eps!.Value);
            using var _ = moments;
            double weightDecay = options.weight_decay!.Value;
            using var decay = weightDecay.ToScalar();
            foreach (var param in group.Parameters)
            {
                var grad = param.grad;
                if (grad is null)
                    continue;
                var state = (State)_state[param.Handle];
                if (options.maximize!.Value)
                    grad = grad.neg();
                state.step += 1;
                if (weightDecay != 0)
                    grad = grad.add(param, decay);
                state.max_exp_avg_sq = moments.Update(param, grad, state.exp_avg, state.exp_avg_sq, state.max_exp_avg_sq,
                    options.amsgrad!.Value, state.step, options.LearningRate!.Value, conjugate: true);
            }
        }, closure);
    }

    private sealed class SafeAdamW(IEnumerable<Parameter> parameters, double lr, double beta1, double beta2, double weightDecay)
        : TorchSharp.Modules.AdamW(parameters, lr, beta1, beta2, weight_decay: weightDecay)
    {
        public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
        {
            var options = (Options)group.Options;
            var moments = new AdamScalars(options.beta1!.Value, options.beta2!.Value, options.eps!.Value);
            using var _ = moments;
            double lr = options.LearningRate!.Value;
            using var shrink = (1 - lr * options.weight_decay!.Value).ToScalar();
            foreach (var param in group.Parameters)
            {
                var grad = param.grad;
                if (grad is null)
                    continue;
                var state = (State)_state[param.Handle];
                if (options.maximize!.Value)
                    grad = grad.neg();
                state.step += 1;
                param.mul_(shrink);
                state.max_exp_avg_sq = moments.Update(param, grad, state.exp_avg, state.exp_avg_sq, state.max_exp_avg_sq,
                    options.amsgrad!.Value, state.step, lr, conjugate: false);
            }
        }, closure);
    }

    /// <summary>The Scalars one Adam(W) step of one parameter group needs, and the moment update both share.</summary>
    private sealed class AdamScalars(double beta1, double beta2, double eps) : IDisposable
    {
        private readonly Scalar _beta1 = beta1.ToScalar();
        private readonly Scalar _oneMinusBeta1 = (1 - beta1).ToScalar();
        private readonly Scalar _beta2 = beta2.ToScalar();
        private readonly Scalar _oneMinusBeta2 = (1 - beta2).ToScalar();
        private readonly Scalar _eps = eps.ToScalar();

        /// <summary>Updates the moments and the parameter in place; returns the (new) AMSGrad maximum, or
        /// <paramref name="maxExpAvgSq"/> unchanged without AMSGrad.</summary>
        public Tensor Update(Parameter param, Tensor grad, Tensor expAvg, Tensor expAvgSq, Tensor maxExpAvgSq, bool amsgrad,
            long step, double lr, bool conjugate)
        {
            double biasCorrection1 = 1 - Math.Pow(beta1, step);
            double biasCorrection2 = 1 - Math.Pow(beta2, step);
            expAvg.mul_(_beta1).add_(grad, _oneMinusBeta1);
            expAvgSq.mul_(_beta2).addcmul_(grad, conjugate ? grad.conj() : grad, _oneMinusBeta2);
            var second = expAvgSq;
            if (amsgrad)
            {
                var previous = maxExpAvgSq;
                maxExpAvgSq = maximum(previous, expAvgSq).DetachFromDisposeScope();
                previous.Dispose();
                second = maxExpAvgSq;
            }
            using var root = Math.Sqrt(biasCorrection2).ToScalar();
            var denom = second.sqrt().div(root).add_(_eps, ScalarMath.One);
            using var stepSize = (-(lr / biasCorrection1)).ToScalar();
            param.addcdiv_(expAvg, denom, stepSize);
            return maxExpAvgSq;
        }

        public void Dispose()
        {
            _beta1.Dispose();
            _oneMinusBeta1.Dispose();
            _beta2.Dispose();
            _oneMinusBeta2.Dispose();
            _eps.Dispose();
        }
    }

    private sealed class SafeSgd(IEnumerable<Parameter> parameters, double lr, double momentum, double weightDecay, bool nesterov)
        : TorchSharp.Modules.SGD(parameters, lr, momentum, weight_decay: weightDecay, nesterov: nesterov)
    {
        public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
        {
            var options = group.Options;
            double momentum = options.momentum!.Value;
            double weightDecay = options.weight_decay!.Value;
            double lr = options.LearningRate!.Value;
            using var momentumScalar = momentum.ToScalar();
            using var keep = (1 - options.dampening!.Value).ToScalar();
            using var decay = weightDecay.ToScalar();
            using var alpha = (options.maximize!.Value ? lr : -lr).ToScalar();
            foreach (var param in group.Parameters)
            {
                var grad = param.grad;
                if (grad is null)
                    continue;
                var state = (State)_state[param.Handle];
                if (weightDecay != 0)
                    grad = grad.add(param, decay);
                if (momentum != 0)
                {
                    var buffer = state.momentum_buffer;
                    if (buffer is null)
                        buffer = grad.clone().detach().DetachFromDisposeScope();
                    else
                        buffer.mul_(momentumScalar).add_(grad, keep);
                    grad = options.nesterov!.Value ? grad.add(buffer, momentumScalar) : buffer;
                    state.momentum_buffer = buffer;
                }
                param.add_(grad, alpha);
            }
        }, closure);
    }
}
