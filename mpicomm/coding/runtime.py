"""Coded training over MPI: rank 0 is the master, ranks 1..n the workers.

    >>> from mpicomm.coding import runtime
    >>> summary = runtime.train(MPI.COMM_WORLD, Config(scheme="m-sgc", B=1, W=3, lam=2,
    ...                                                 jobs=60))   # every rank calls it

Each round the master sends every worker its tasks (from the scheme's master state:
which job, which parts with which coefficients) with the parameters they need;
workers compute real gradients of real models (models.py, or those
Config(models=...) builds: torch_models.py for PyTorch), wait as long as their
load (and any injected straggling) says, and send their results back. The master
takes what arrives before tau = (1 + mu) x the first arrival; if the stragglers so
far conform to the scheme's model it goes on without them, otherwise it waits for
every live worker (a wait-out, bounded by round_timeout_s). Results are labelled
with their round: a late one is received and dropped, never counted in another
round. Workers take every round's tasks as they come and send each result when its
round's delay is over (from the master's send): rounds overlap as independent
invocations would, so a straggling round does not make a worker late for the next.
Job j belongs to model j mod M, M models trained round-robin (Config.model_count,
at least and by default the scheme's T + 1, so that a model's next job starts after
its previous one is decoded); it is decoded in round j + T and checked against the
full gradient computed directly.

Failed workers (Open MPI's ULFM, `mpicomm run --ft`): the master learns of a dead
worker from the MPI (acknowledging the failure), and from then on under gc (while
the dead are at most s) it is a permanent straggler; under the other schemes a live
worker takes over its tasks as well. Without ULFM a dead worker ends the job.
"""
import collections
import dataclasses
import heapq
import os
import time

import numpy as np
from mpi4py import MPI

from mpicomm import ft
from mpicomm.coding import schemes
from mpicomm.coding.models import make_models
from mpicomm.coding.stragglers import Conformity

__all__ = ["Config", "train"]

ASSIGN, RESULT, BYE = 21, 22, 23


@dataclasses.dataclass
class Config:
    scheme: str = "gc"
    s: int = None
    B: int = None
    W: int = None
    lam: int = None
    jobs: int = 40
    mu: float = 1.0
    lr: float = 0.5
    batch: int = 512
    samples: int = 4096
    features: int = 32
    base_s: float = 0.02           # an uncoded worker's compute time per round
    straggle_prob: float = 0.0     # chance per worker and round of straggling ...
    slow_s: float = 0.1            # ... for this many extra seconds
    trace: object = None           # or delays (workers x rounds, seconds at trace_load)
    trace_load: float = None
    round_timeout_s: float = 60.0
    kill_rank: int = -1
    kill_at_round: int = -1
    seed: int = 0
    models: object = None          # or a callable: count -> that many models (models.py's
                                   # interface; torch_models.TorchModel for PyTorch)
    model_count: int = None        # models trained round-robin (default and least: T + 1)

    def build_models(self, count):
        if self.models is not None:
            return list(self.models(count))
        return make_models(count, self.samples, self.features, self.seed)

    def make_scheme(self, n):
        kwargs = {k: getattr(self, k) for k in ("s", "B", "W", "lam")
                  if getattr(self, k) is not None}
        return schemes.scheme(self.scheme, n, **kwargs)

    def count_models(self, sch):
        """How many models the job trains round-robin: model_count, or the scheme's
        T + 1 (the fewest that let a model's job start after its previous one is
        decoded)."""
        if self.model_count is None:
            return sch.T + 1
        if isinstance(self.model_count, bool) or not isinstance(self.model_count, int) \
                or self.model_count < sch.T + 1:
            raise ValueError(f"model_count={self.model_count!r}: {sch.name} decodes a job "
                             f"{sch.T} rounds after it starts, so it needs model_count >= "
                             f"T + 1 = {sch.T + 1}")
        return self.model_count


def train(comm, cfg):
    """Run the job on comm (collective); rank 0 returns the summary dict, workers None."""
    if comm.Get_size() < 2:
        raise ValueError("coded training needs a master and at least one worker (2 ranks)")
    if ft.available(comm):
        comm = ft.resilient(comm)
        ft.bound_finalize()
    sch = cfg.make_scheme(comm.Get_size() - 1)     # every rank checks the parameters
    cfg.count_models(sch)
    if comm.Get_rank() == 0:
        return _Master(comm, cfg, sch).run()
    _worker(comm, cfg, sch)
    return None


# The worker -----------------------------------------------------------------------------------

def _worker(comm, cfg, sch):
    """Compute each round's tasks as soon as they come and send the results when the
    round's delay says (measured from the master's send, wall clock: rounds overlap as
    independent invocations would, so a straggling round does not make the next one
    late too)."""
    me = comm.Get_rank()
    models = cfg.build_models(cfg.count_models(sch))
    bounds = np.concatenate([[0.0], np.cumsum(sch.parts)])
    rng = np.random.default_rng([cfg.seed, me])
    trace = None
    if cfg.trace is not None:
        from mpicomm.coding.stragglers import rescale
        trace = rescale(np.asarray(cfg.trace)[me - 1], cfg.trace_load, sch.load)
    due = []                                   # heap of (send time, round, results)
    while True:
        # 1. Send what is due.
        while due and due[0][0] <= time.time():
            _, r, out = heapq.heappop(due)
            comm.send((r, out), dest=0, tag=RESULT)
        # 2. Take the next round's tasks, or wait a little for them.
        if not comm.Iprobe(source=0, tag=ASSIGN):
            time.sleep(min(1e-3, max(0.0, due[0][0] - time.time())) if due else 2e-4)
            continue
        msg = comm.recv(source=0, tag=ASSIGN)
        if msg is None:
            for _, r, out in sorted(due):
                comm.send((r, out), dest=0, tag=RESULT)
            comm.send(None, dest=0, tag=BYE)
            return
        r = msg["round"]
        if me == cfg.kill_rank and r >= cfg.kill_at_round:
            os._exit(9)
        out = []
        for who, job, key, coefs, mi, start in msg["tasks"]:
            params = msg["params"][job]
            vec = np.zeros(np.shape(params))
            for part, coef in coefs:
                lo = start + int(round(bounds[part] * cfg.batch))
                hi = start + int(round(bounds[part + 1] * cfg.batch))
                if hi > lo:
                    vec += coef * models[mi].grad(params, lo, hi)
            out.append((who, job, key, vec))
        # 3. This round's delay: its load's share of base_s (and straggling), or the trace.
        if trace is not None:
            delay = float(trace[min(r, trace.size - 1)])
        else:
            delay = cfg.base_s * sch.load * sch.n
            if rng.random() < cfg.straggle_prob:
                delay += cfg.slow_s
        heapq.heappush(due, (msg["sent"] + delay, r, out))


# The master -----------------------------------------------------------------------------------

class _Master:
    def __init__(self, comm, cfg, sch):
        self.comm, self.cfg, self.sch, self.n = comm, cfg, sch, sch.n
        self.models = cfg.build_models(cfg.count_models(sch))
        self.history = []                      # (seconds, job, model, accuracy) per decode
        self.start = time.perf_counter()
        self.params = [m.init() for m in self.models]
        self.state = sch.master(cfg.jobs)
        self.conformity = Conformity(sch)
        self.dead = set()                      # workers (0-based) known to have failed
        self.results = {}                      # (worker, round, job, key) -> vector
        self.snapshot = {}                     # job -> (model, params, batch start)
        self.sends = []
        self.late = 0
        self.sent_to = {}                      # this round: worker -> rank (0-based) doing its tasks
        self.msgs = collections.Counter()      # this round: messages received per rank
        self.extra = collections.Counter()     # this round: resent task messages per rank

    # 1. Who does what: a dead worker's tasks go to a live one, unless gc absorbs it.
    def _absorbs_dead(self):
        return self.sch.name == "gc" and len(self.dead) <= self.sch.s

    def _carrier(self, w):
        if w not in self.dead or self._absorbs_dead():
            return None if w in self.dead else w
        live = [v for v in range(self.n) if v not in self.dead]
        return live[(w - min(self.dead)) % len(live)] if live else None

    def _send(self, r, assigned, only=None):
        """Send round r's tasks; only: just these workers' tasks (to their carriers now).
        Returns the carriers written to."""
        per = {}
        params = {}
        for w, tasks in enumerate(assigned):
            if only is not None and w not in only:
                continue
            carrier = self._carrier(w)
            if carrier is None:
                continue
            self.sent_to[w] = carrier
            per.setdefault(carrier, [])
            for job, key, coefs in tasks:
                mi, p, start = self.snapshot[job]
                per[carrier].append((w, job, key, coefs, mi, start))
                params[job] = p
        if only is None:
            for v in range(self.n):
                if v not in self.dead:
                    per.setdefault(v, [])
        for v, tasks in per.items():
            msg = {"round": r, "sent": time.time(), "tasks": tasks,
                   "params": {t[1]: params[t[1]] for t in tasks}}
            try:
                self.sends.append(self.comm.isend(msg, dest=v + 1, tag=ASSIGN))
            except MPI.Exception as exc:
                self._failure(exc)
        if only is not None:
            self.extra.update(per.keys())            # one more message from each
        return set(per)

    # 2. What came back.
    def _failure(self, exc):
        if not ft.is_failure(exc):
            raise exc
        self.comm.Ack_failed()
        group = self.comm.Get_failed()
        ranks = MPI.Group.Translate_ranks(group, list(range(group.Get_size())),
                                          self.comm.Get_group())
        group.Free()
        self.dead |= {r - 1 for r in ranks if r > 0}
        if len(self.dead) == self.n:
            raise RuntimeError("every worker has failed")

    def _collect(self, r, arrived, first):
        """Receive every result that has come; (round r's arrivals, first arrival time)."""
        while True:
            status = MPI.Status()
            try:
                msg = self.comm.improbe(MPI.ANY_SOURCE, RESULT, status)
            except MPI.Exception as exc:
                self._failure(exc)
                continue
            if msg is None:
                return first
            rr, out = msg.recv()
            if rr != r:
                self.late += 1                 # a late round's result: never counted
                continue
            arrived.setdefault(status.Get_source() - 1, []).extend(out)
            self.msgs[status.Get_source() - 1] += 1
            if first is None:
                first = time.perf_counter()

    def _expected(self):
        """Workers (0-based) whose results this round stand for someone, as carriers."""
        return {c for w in range(self.n) if (c := self._carrier(w)) is not None}

    def _wait(self, r, t0, until_all, arrived=None, first=None):
        """Results of round r: until tau (or, until_all, until every live worker's)."""
        arrived = {} if arrived is None else arrived
        pause = 2e-5
        while True:
            first = self._collect(r, arrived, first)
            expected = self._expected()
            pending = [c for c in self.extra if c not in self.dead and not self._complete(c)]
            if not pending and all(self._complete(c) for c in expected):
                return arrived, first
            now = time.perf_counter()
            if (not until_all and not pending and first is not None
                    and now >= t0 + (1 + self.cfg.mu) * (first - t0)):
                return arrived, first
            if now - t0 > self.cfg.round_timeout_s:
                missing = sorted(c + 1 for c in expected | set(pending)
                                 if not self._complete(c))
                raise RuntimeError(f"round {r}: ranks {missing} did not answer within "
                                   f"round_timeout_s={self.cfg.round_timeout_s}")
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)

    # 3. The rounds.
    def run(self):
        cfg, sch, state = self.cfg, self.sch, self.state
        waitouts, max_err, decoded = 0, 0.0, 0
        start = self.start = time.perf_counter()
        for r in range(state.rounds):
            assigned = state.assign(r)
            if sch.name == "sr-sgc" and r >= cfg.jobs and state.decodable(r - sch.B):
                self.conformity.commit(r, ())          # nothing left to do this round
                max_err = max(max_err, self._decode(r - sch.T))
                decoded += 1
                continue
            if r < cfg.jobs:
                mi = r % len(self.models)
                step = r // len(self.models)
                self.snapshot[r] = (mi, self.params[mi].copy(),
                                    self.models[mi].batch(step, cfg.batch))
            t0 = time.perf_counter()
            self.sent_to, self.msgs, self.extra = {}, collections.Counter(), collections.Counter()
            self._send(r, assigned)
            arrived, first = self._wait(r, t0, until_all=False)
            self._resend_lost(r, assigned, arrived, t0, first)
            stand_for = self._stand_for(arrived)
            stragglers = set(range(self.n)) - stand_for
            if not self.conformity.conforms(r, stragglers):
                waitouts += 1
                self._wait(r, t0, until_all=True, arrived=arrived, first=first)
                self._resend_lost(r, assigned, arrived, t0, first)
                stand_for = self._stand_for(arrived)
                stragglers = set(range(self.n)) - stand_for if self.dead else set()
            absorbed = sch.name == "sr-sgc" and len(stragglers) <= sch.s and not any(
                w not in stragglers for w in state.repeating(r))
            self.conformity.commit(r, stragglers, absorbed)
            state.deliver(r, stand_for)
            for out in arrived.values():
                for who, job, key, vec in out:
                    self.results[(who, r, job, key)] = vec
            if 0 <= r - sch.T < cfg.jobs:
                max_err = max(max_err, self._decode(r - sch.T))
                decoded += 1
            self.sends = [s for s in self.sends if not s.Test()]
        runtime = time.perf_counter() - start
        self._stop()
        extra = {}
        if cfg.models is not None:
            extra["final_params"] = [p.copy() for p in self.params]
        if self.history:
            extra["history"] = self.history
            extra["accuracy"] = [m.evaluate(p) for m, p in zip(self.models, self.params)]
        return {**extra, "scheme": sch.name, "params": sch.params, "workers": self.n,
                "jobs": cfg.jobs, "models": len(self.models), "rounds": state.rounds,
                "T": sch.T, "load": sch.load,
                "runtime_s": runtime, "waitouts": waitouts, "decoded": decoded,
                "max_rel_grad_err": max_err, "late_results": self.late,
                "final_loss": float(np.mean([m.loss(p) for m, p in zip(self.models, self.params)])),
                "failed_ranks": sorted(w + 1 for w in self.dead)}

    def _complete(self, c):
        """Whether rank c (0-based) has answered this round, resent tasks included."""
        return c not in self.dead and self.msgs[c] >= 1 + self.extra[c]

    def _stand_for(self, arrived):
        """Workers whose round results are all in (whoever carried their tasks)."""
        return {w for w, c in self.sent_to.items() if c in arrived and self._complete(c)}

    def _resend_lost(self, r, assigned, arrived, t0, first):
        """Tasks of this round given to a worker since found dead go to a live carrier
        (unless gc absorbs the dead); wait for them (bounded by round_timeout_s)."""
        lost = {w for w, c in self.sent_to.items()
                if c in self.dead and self._carrier(w) is not None}
        if lost:
            self._send(r, assigned, only=lost)
            self._wait(r, t0, until_all=False, arrived=arrived, first=first)

    def _decode(self, job):
        if not self.state.decodable(job):
            raise RuntimeError(f"job {job} cannot be decoded at its deadline (a conforming "
                               f"pattern should always decode: a bug)")
        weights = self.state.weights(job)
        grad = sum(wt * self.results[(w, r, job, key)] for (w, r, key), wt in weights.items())
        mi, params, start = self.snapshot.pop(job)
        full = self.models[mi].grad(params, start, start + self.cfg.batch)
        err = float(np.abs(grad - full).max() / max(np.abs(full).max(), 1e-300))
        model = self.models[mi]
        if hasattr(model, "step"):
            self.params[mi] = model.step(params, grad, self.cfg.batch)
        else:
            self.params[mi] = params - self.cfg.lr * grad / self.cfg.batch
        if hasattr(model, "evaluate"):
            self.history.append((time.perf_counter() - self.start, job, mi,
                                 model.evaluate(self.params[mi])))
        # Every job a result of round <= job belongs to is now decoded.
        for k in [k for k in self.results if k[1] <= job]:
            del self.results[k]
        return err

    def _stop(self):
        live = [w for w in range(self.n) if w not in self.dead]
        for w in live:
            self.comm.send(None, dest=w + 1, tag=ASSIGN)
        waiting = set(live)
        deadline = time.perf_counter() + self.cfg.round_timeout_s
        while waiting and time.perf_counter() < deadline:
            status = MPI.Status()
            try:
                if self.comm.Iprobe(MPI.ANY_SOURCE, BYE, status):
                    self.comm.recv(source=status.Get_source(), tag=BYE)
                    waiting.discard(status.Get_source() - 1)
                    continue
                self._collect(-1, {}, None)              # drain late results
            except MPI.Exception as exc:
                self._failure(exc)
                waiting -= self.dead
            time.sleep(1e-3)
