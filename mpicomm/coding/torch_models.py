"""PyTorch models trained by the coded runtime (gradient coding against stragglers).

    >>> from mpicomm.coding import torch_models
    >>> summary = torch_models.train(
    ...     comm, lambda: torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
    ...                                       torch.nn.Linear(32, 10)),
    ...     torch.nn.functional.cross_entropy,
    ...     lambda params: torch.optim.SGD(params, lr=0.1), X, y,
    ...     runtime.Config(scheme="m-sgc", B=1, W=2, lam=2, jobs=120, batch=128))

Rank 0 is the master, ranks 1..n the workers (mpicomm.coding.runtime). A job is one
step of one model on one minibatch of (X, y); the scheme splits the minibatch into its
parts, and a worker's task is the coefficient-weighted sum of the per-part gradients of
the loss summed over each part's samples (the mean loss the user gives, times the
part's sample count), computed with the parameters of the job's model that travel with
the task. The master decodes each job's gradient, divides it by the batch size (the
gradient of the mean loss over the minibatch, as plain data-parallel training has it),
and steps that model's optimizer. M models are trained at once (Config.model_count,
by default and at least the scheme's T + 1), their steps interleaved (job j belongs to
model j mod M), as in the sequential gradient coding paper's experiments; at the end
every rank's modules hold the master's parameters.

Every rank builds the same modules from make_module() after torch.manual_seed(seed + k)
for model k; parameters travel as one float64 vector per model.
"""
import numpy as np
import torch

from mpicomm.coding import runtime

__all__ = ["TorchModel", "train"]


class TorchModel:
    """A module, its mean loss, its optimizer (used by the master only) and its data, with
    the interface the coded runtime calls: init(), grad(params, lo, hi), step(params,
    grad, batch), loss(params), batch(step, size), evaluate(params)."""

    def __init__(self, module, loss, optimizer, X, y, X_test=None, y_test=None):
        self.module, self.loss_fn, self.optimizer = module, loss, optimizer
        self.X, self.y = torch.as_tensor(X), torch.as_tensor(y)
        self.X_test = None if X_test is None else torch.as_tensor(X_test)
        self.y_test = None if y_test is None else torch.as_tensor(y_test)
        self.samples = len(self.X)
        self.params = [p for p in module.parameters() if p.requires_grad]

    def _load(self, params):
        torch.nn.utils.vector_to_parameters(
            torch.from_numpy(np.asarray(params)).to(self.params[0].dtype), self.params)

    def _vector(self, tensors):
        return torch.cat([t.detach().reshape(-1) for t in tensors]).double().numpy()

    def init(self):
        return self._vector(self.params).copy()

    def grad(self, params, lo, hi):
        """The gradient of the loss summed over samples lo..hi-1 at params."""
        self._load(params)
        for p in self.params:
            p.grad = None
        out = self.module(self.X[lo:hi])
        (self.loss_fn(out, self.y[lo:hi]) * (hi - lo)).backward()
        return self._vector([p.grad if p.grad is not None else torch.zeros_like(p)
                             for p in self.params])

    def step(self, params, grad, batch):
        """The optimizer's step from params with the mean gradient grad / batch."""
        self._load(params)
        g = torch.from_numpy(np.asarray(grad) / batch).to(self.params[0].dtype)
        at = 0
        for p in self.params:
            p.grad = g[at:at + p.numel()].view_as(p).clone()
            at += p.numel()
        self.optimizer.step()
        return self.init()

    def loss(self, params):
        self._load(params)
        with torch.no_grad():
            return float(self.loss_fn(self.module(self.X), self.y))

    def batch(self, step, size):
        """The first sample of minibatch `step` (contiguous batches, cycling)."""
        return (step * size) % (self.samples - size + 1)

    def evaluate(self, params):
        """The share of the test samples (or training samples) classified right."""
        X, y = (self.X, self.y) if self.X_test is None else (self.X_test, self.y_test)
        self._load(params)
        with torch.no_grad():
            return float((self.module(X).argmax(1) == y).double().mean())


def train(comm, make_module, loss, make_optimizer, X, y, cfg, X_test=None, y_test=None,
          seed=0):
    """Coded training of the job's models (collective over comm): returns rank
    0's summary (runtime.train's, with "accuracy" per model and "history": (seconds,
    job, model, accuracy) after every decoded job) on rank 0, None elsewhere, and the
    modules, whose parameters are the master's final ones on every rank."""
    modules = []

    def build(count):
        out = []
        for k in range(count):
            torch.manual_seed(seed + k)
            module = make_module()
            modules.append(module)
            out.append(TorchModel(module, loss, make_optimizer(module.parameters()), X, y,
                                  X_test, y_test))
        return out

    cfg = runtime.Config(**{**cfg.__dict__, "models": build})
    summary = runtime.train(comm, cfg)
    # Every rank gets the master's parameters.
    final = comm.bcast(summary.pop("final_params") if summary else None, root=0)
    for module, vector in zip(modules, final):
        params = [p for p in module.parameters() if p.requires_grad]
        torch.nn.utils.vector_to_parameters(
            torch.from_numpy(vector).to(params[0].dtype), params)
    return summary, modules
