"""mpicomm.coding without MPI: the schemes' loads and constraints, gradient codes that
decode exactly and fast, every scheme's assignments decoding every job by its deadline
under straggler patterns that conform to its model, and the compiled simulator
against a plain-Python replay of the same rules."""
import math

import numpy as np
import pytest

from mpicomm import coding
from mpicomm.coding.stragglers import Conformity

N = 256


# Loads, delays and constraints ---------------------------------------------------------------

@pytest.mark.parametrize("lam", [1, 4, 16, 64, 128, 255, 256])
def test_loads_follow_the_papers_formulas(lam):
    B, W = 2, 5
    assert coding.scheme("none", N).load == 1 / N
    s = min(lam, N - 1)
    assert coding.scheme("gc", N, s=s).load == (s + 1) / N
    sr = coding.scheme("sr-sgc", N, B=B, W=W, lam=lam)
    assert sr.s == math.ceil(B * lam / (W - 1 + B)) and sr.load == (sr.s + 1) / N and sr.T == B
    m = coding.scheme("m-sgc", N, B=B, W=W, lam=lam)
    want = ((W - 1 + B) / (N * (W - 1)) if lam == N else
            (lam + 1) * (W - 1 + B) / (N * (B + (W - 1) * (lam + 1))))
    assert m.load == pytest.approx(want, rel=1e-12) and m.T == W - 2 + B
    assert m.parts.sum() == pytest.approx(1.0) and m.parts.min() >= 0
    # The point of M-SGC: a lower load than GC for the same burst tolerance.
    if lam < N:
        assert m.load < coding.scheme("gc", N, s=s).load


@pytest.mark.parametrize("name, kwargs, message", [
    ("gc", {"s": 256}, "0 <= s < n"),
    ("gc", {"s": -1}, "0 <= s < n"),
    ("gc", {}, "gc needs s"),
    ("sr-sgc", {"B": 2, "W": 4, "lam": 3}, r"B \| \(W-1\)"),
    ("sr-sgc", {"B": 1, "W": 3}, "needs B, W and lam"),
    ("m-sgc", {"B": 3, "W": 3, "lam": 2}, "1 <= B < W"),
    ("m-sgc", {"B": 0, "W": 3, "lam": 2}, "B must be an integer >= 1"),
    ("m-sgc", {"B": 1, "W": 3, "lam": 300}, "lam <= n"),
    ("fancy", {}, "unknown scheme 'fancy'"),
])
def test_parameters_outside_the_constraints_are_named(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        coding.scheme(name, N, **kwargs)


# Gradient codes ------------------------------------------------------------------------------

@pytest.mark.parametrize("n, s", [(8, 1), (8, 3), (9, 2), (10, 3), (12, 5), (50, 7), (256, 27)])
def test_any_n_minus_s_responders_decode_the_full_gradient(n, s):
    code = coding.GradientCode(n, s)
    assert code.kind == ("fractional" if n % (s + 1) == 0 else "cyclic")
    assert all(len(sup) == s + 1 for sup in code.support)
    rng = np.random.default_rng(n + s)
    g = rng.standard_normal((n, 7))
    coded = code.B @ g
    for _ in range(30):
        k = int(rng.integers(n - s, n + 1))
        F = np.sort(rng.choice(n, k, replace=False))
        got = code.combine(coded[F], F)
        assert np.abs(got - g.sum(0)).max() <= 1e-9 * np.abs(g.sum(0)).max()


def test_too_few_responders_are_refused():
    code = coding.GradientCode(10, 3)
    with pytest.raises(coding.DecodeError, match="at least 7 needed"):
        code.decoding_vector(range(6))
    with pytest.raises(ValueError, match="responders must be workers 0..9"):
        code.decoding_vector([0, 1, 2, 3, 4, 5, 12])


def test_decoding_n256_s27_decodes_and_is_cached():
    """Decoding speed (well under 10 ms at n=256, s=27) is measured by
    benchmarks/coding_bench.py; here: every set decodes, and a set seen before is
    answered from the cache (the same read-only vector, not a new solve)."""
    code = coding.GradientCode(256, 27)
    rng = np.random.default_rng(0)
    sets = [np.sort(rng.choice(256, 229, replace=False)) for _ in range(21)]
    vectors = [code.decoding_vector(F) for F in sets]
    B = code.B
    for F, a in zip(sets, vectors):
        assert np.allclose(a @ B, 1.0) and not a[np.setdiff1d(np.arange(256), F)].any()
    again = code.decoding_vector(list(reversed(sets[5].tolist())))
    assert again is vectors[5] and not again.flags.writeable


# Every scheme decodes every job by its deadline under its straggler model ------------------

def replay(sch, delays, mu, jobs, parts=None):
    """The simulator's rules in plain Python on the schemes' own masters: round times,
    wait-outs and decode rounds; with parts (part gradients), also checks every job's
    decoded gradient by its deadline."""
    n, T = sch.n, sch.T
    master, conf = sch.master(jobs), Conformity(sch)
    durations, waitouts, decoded = [], [], {}
    for r in range(jobs + T):
        master.assign(r)
        if sch.name == "sr-sgc" and r >= jobs and master.decodable(r - sch.B):
            conf.commit(r, ())
            durations.append(0.0)
            waitouts.append(False)
            continue
        d = delays[:, r]
        tau = (1 + mu) * d.min()
        strag = {w for w in range(n) if d[w] > tau}
        ok = conf.conforms(r, strag)
        durations.append(min(tau, d.max()) if ok else d.max())
        waitouts.append(not ok)
        if not ok:
            strag = set()
        absorbed = sch.name == "sr-sgc" and len(strag) <= sch.s and not any(
            w not in strag for w in master.repeating(r))
        conf.commit(r, strag, absorbed)
        master.deliver(r, set(range(n)) - strag)
        for job in range(max(0, r - T), min(r + 1, jobs)):
            if job not in decoded and master.decodable(job):
                decoded[job] = r
        if parts is not None and 0 <= r - T < jobs:
            job = r - T
            assert master.decodable(job), f"{sch!r}: job {job} not decodable by round {r}"
            results = {}
            for rr in range(job, r + 1):
                for w, ts in enumerate(master._assigned[rr]):
                    for j, key, coefs in ts:
                        if j == job:
                            results[(w, rr, key)] = sum(c * parts[job][p] for p, c in coefs)
            got = sum(wt * results[k] for k, wt in master.weights(job).items())
            want = parts[job].sum(axis=0)
            err = np.abs(got - want).max() / np.abs(want).max()
            assert err <= 1e-9, (sch, job, err)
    return np.array(durations), np.array(waitouts), decoded


SCHEMES = [("none", {}), ("gc", {"s": 2}), ("gc", {"s": 3}),
           ("sr-sgc", {"B": 1, "W": 3, "lam": 3}), ("sr-sgc", {"B": 2, "W": 5, "lam": 4}),
           ("m-sgc", {"B": 1, "W": 3, "lam": 2}), ("m-sgc", {"B": 2, "W": 4, "lam": 3}),
           ("m-sgc", {"B": 2, "W": 3, "lam": 8})]


@pytest.mark.parametrize("name, kwargs", SCHEMES, ids=[f"{n}-{k}" for n, k in SCHEMES])
def test_every_job_decodes_exactly_by_its_deadline(name, kwargs):
    n, jobs = 8, 60
    sch = coding.scheme(name, n, **kwargs)
    rng = np.random.default_rng(3)
    parts = [rng.standard_normal((len(sch.parts), 5)) for _ in range(jobs)]
    delays = coding.markov(n, jobs + sch.T, p_slow=0.15, p_recover=0.5, seed=4)
    _, waitouts, _ = replay(sch, delays, 1.0, jobs, parts)
    if name != "none":
        assert not waitouts.all()                   # stragglers were really left behind


def test_a_conforming_bursty_trace_needs_no_wait_outs():
    n, B, W, lam = 12, 2, 5, 3
    delays = coding.bursty(n, 200, B, W, lam, rate=0.5, seed=2)
    assert (delays > 2 * delays.min(axis=0)).any()  # it has stragglers
    for name in ("sr-sgc", "m-sgc"):
        if name == "sr-sgc" and (W - 1) % B:
            continue
        sch = coding.scheme(name, n, B=B, W=W, lam=lam)
        result = coding.simulate(sch, delays, mu=1.0)
        assert result.waitouts == 0, (name, result.waitout_rounds[:5])


@pytest.mark.parametrize("name, kwargs", SCHEMES, ids=[f"{n}-{k}" for n, k in SCHEMES])
def test_the_compiled_simulator_matches_the_python_replay(name, kwargs):
    n, jobs = 8, 80
    sch = coding.scheme(name, n, **kwargs)
    delays = coding.markov(n, jobs + sch.T, p_slow=0.1, p_recover=0.4, seed=7)
    durations, waitouts, decoded = replay(sch, delays, 1.0, jobs)
    sim = coding.simulate(sch, delays, mu=1.0, jobs=jobs)
    assert np.allclose(sim.durations, durations) and sim.runtime == pytest.approx(durations.sum())
    assert sim.waitouts == waitouts.sum()
    for job in range(jobs):
        if name == "m-sgc":
            assert sim.decode_round[job] == job + sch.T and decoded[job] <= job + sch.T
        else:
            assert sim.decode_round[job] == decoded[job], job


def test_simulating_256_workers_for_10000_rounds():
    """Its speed (well under a second each) is measured by benchmarks/coding_bench.py."""
    delays = coding.markov(N, 10000, seed=1)
    for name, kwargs in [("gc", {"s": 15}), ("sr-sgc", {"B": 1, "W": 3, "lam": 20}),
                         ("m-sgc", {"B": 1, "W": 3, "lam": 20})]:
        result = coding.simulate(coding.scheme(name, N, **kwargs), delays)
        assert result.durations.size == 10000 and (result.durations > 0).all()


def test_best_params_is_the_lowest_runtime_over_the_candidates():
    n = 10
    delays = coding.markov(n, 300, p_slow=0.05, p_recover=0.3, seed=5)
    params, result = coding.best_params(delays, "gc", trace_load=1 / n, max_delay=0)
    runtimes = {s: coding.simulate(coding.scheme("gc", n, s=s), delays, jobs=result.decode_round.size,
                                   trace_load=1 / n).runtime for s in range(n)}
    assert params["s"] == min(runtimes, key=runtimes.get)
    assert result.runtime == pytest.approx(min(runtimes.values()))
    params, result = coding.best_params(delays, "m-sgc", trace_load=1 / n, max_delay=3)
    assert params["W"] - 2 + params["B"] <= 3 and result.runtime > 0


def test_simulate_checks_its_inputs():
    sch = coding.scheme("m-sgc", 4, B=1, W=3, lam=1)
    with pytest.raises(ValueError, match="4 workers"):
        coding.simulate(sch, np.ones((5, 10)))
    with pytest.raises(ValueError, match="need 12 rounds; the trace has 10"):
        coding.simulate(sch, np.ones((4, 10)), jobs=10)
    with pytest.raises(ValueError, match="mu must be >= 0"):
        coding.simulate(sch, np.ones((4, 10)), mu=-1)


def test_rescale_keeps_the_fixed_part():
    d = np.array([[2.0, 4.0]])
    assert np.allclose(coding.rescale(d, 0.5, 0.25, fixed_s=1.0), [[1.5, 2.5]])
    with pytest.raises(ValueError, match="between 0 and the smallest delay"):
        coding.rescale(d, 0.5, 0.25, fixed_s=3.0)


@pytest.mark.parametrize("count", [0, 1, 2.0, True])
def test_fewer_models_than_the_decoding_delay_needs_are_named(count):
    from mpicomm.coding import runtime
    cfg = runtime.Config(scheme="m-sgc", B=1, W=3, lam=2, model_count=count)
    sch = cfg.make_scheme(8)                                # T = W - 2 + B = 2
    with pytest.raises(ValueError, match=rf"model_count={count!r}: m-sgc .* >= T \+ 1 = 3"):
        cfg.count_models(sch)
    assert runtime.Config(scheme="m-sgc", B=1, W=3, lam=2).count_models(sch) == 3
    assert runtime.Config(scheme="m-sgc", B=1, W=3, lam=2, model_count=5).count_models(sch) == 5
