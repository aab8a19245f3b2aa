"""Gradient coding and sequential gradient coding against stragglers.

    >>> from mpicomm import coding
    >>> sch = coding.scheme("m-sgc", n=256, B=1, W=3, lam=20)
    >>> sch.load, sch.T
    >>> result = coding.simulate(sch, delays, mu=1.0)        # delays: workers x rounds
    >>> params, result = coding.best_params(probe_delays, "m-sgc")

gc.py          (n, s) gradient codes: fractional and cyclic repetition, fast decoding
schemes.py     none, gc, sr-sgc, m-sgc: loads, assignments per round, decoding
stragglers.py  the (B, W, lambda)-bursty model's check, trace generators, rescaling
simulate.py    the simulator (numba) and the parameter search
runtime.py     coded training over MPI (master and workers)
torch_models.py  PyTorch models for that runtime (imports torch; imported only when used)
"""
from mpicomm.coding.gc import DecodeError, GradientCode
from mpicomm.coding.schemes import NAMES, scheme
from mpicomm.coding.simulate import Simulation, best_params, simulate
from mpicomm.coding.stragglers import Conformity, bursty, markov, rescale

__all__ = ["scheme", "NAMES", "GradientCode", "DecodeError", "simulate", "Simulation",
           "best_params", "Conformity", "markov", "bursty", "rescale"]
