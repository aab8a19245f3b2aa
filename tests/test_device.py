"""The device layer without MPI ranks of our own: the generated kernels under the
simulated device's grid-emulation harness (AddressSanitizer), the harness's own checks,
the CUDA build, and the simulated device's honesty (its memory faults in the MPI)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.helpers import mpicomm_run
from mpicomm import build

HERE = Path(__file__).resolve().parent
SIM = {"MPICOMM_DEVICE": "sim"}


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """tests/c/device_harness.c with the core, the generated kernels and the device layer,
    under AddressSanitizer and UBSan."""
    src = build.source_dir()
    exe = tmp_path_factory.mktemp("harness") / "device_harness"
    cmd = ["cc", "-std=gnu11", "-g", "-O1", "-Wall", "-Wextra", "-Werror",
           "-Wno-unused-parameter", "-fsanitize=address,undefined",
           "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer",
           *(f"-I{src / d}" for d in ("include", "core", "gen", "device")),
           str(HERE / "c" / "device_harness.c"), *map(str, sorted((src / "core").glob("*.c"))),
           str(src / "gen" / "mpic_kernels.c"), *map(str, sorted((src / "device").glob("*.c"))),
           "-ldl", "-lpthread", "-o", str(exe)]
    subprocess.run(cmd, check=True)
    return exe


def run_harness(exe, *args, **more):
    env = dict(os.environ, MPICOMM_DEVICE="sim", ASAN_OPTIONS="detect_leaks=0", **more)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.parametrize("seed", ["1", "2", "3"])
def test_device_kernels_match_the_host_kernels_under_asan(harness, seed):
    """Random plans of 1 to 9 levels at any alignment, every mix of host and device sides;
    each launch within CUDA's limits, each access aligned to its width, each packed byte
    written once (the harness aborts otherwise)."""
    out = run_harness(harness, "random", "1500", seed)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok 1500"


def test_the_simulated_streams_keep_cudas_order(harness):
    """The legacy default stream and a blocking stream wait for each other's earlier work;
    a non-blocking stream waits for neither; a launch on another device's stream fails."""
    out = run_harness(harness, "streams", MPICOMM_SIM_DEVICES="2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok streams"


@pytest.mark.parametrize("case, says", [
    ("misaligned", "misaligned 16-byte access"),
    ("limits", "exceeds CUDA's limits"),
    ("twice", "written twice"),
])
def test_the_harness_refuses_what_a_gpu_would_not_forgive(harness, case, says):
    out = run_harness(harness, case)
    assert out.returncode != 0, out.stdout
    assert says in out.stderr
    assert "let a bad launch" not in out.stdout


def test_nvcc_builds_the_cuda_kernels_with_warnings_as_errors():
    nvcc = build.choose_nvcc()
    if not nvcc:
        pytest.skip("no nvcc on this machine (MPICOMM_NVCC, PATH, /usr/local/cuda, the "
                    "mpicomm[cuda] wheels)")
    meta = build.build(quiet=True)
    cuda = meta["cuda_kernels"]
    assert cuda and Path(cuda["library"]).exists(), meta
    assert cuda["archs"] and set(cuda["archs"]) <= set(build.CUDA_ARCHS)
    syms = subprocess.run(["nm", "-D", "--defined-only", cuda["library"]], capture_output=True,
                          text=True, check=True).stdout
    for name in ("mpik_cuda_launch", "mpik_cuda_merge", "mpik_cuda_runtime_version",
                 "mpik_cuda_error_name"):
        assert name in syms
    assert cuda["kernels"] == 91          # 9 levels x 5 widths x pack, unpack, and merge


def test_the_cuda_library_is_readable_by_everyone():
    """A shared cache (a site's installation) serves users who did not build it."""
    meta = build.build(quiet=True)
    if not meta["cuda_kernels"]:
        pytest.skip("built without CUDA kernels (no nvcc)")
    assert os.stat(meta["cuda_kernels"]["library"]).st_mode & 0o777 == 0o755


def fake_nvcc(tmp_path, archs, compiles):
    """An nvcc that lists archs and fails to compile, or stands in for the real one."""
    real = build.choose_nvcc()
    script = tmp_path / "nvcc"
    script.write_text("#!/bin/sh\n"
                      f"if [ \"$1\" = --list-gpu-arch ]; then printf '{archs}'; exit 0; fi\n" +
                      (f'exec {real} "$@"\n' if compiles else
                       "echo 'nvcc fatal   : Unsupported gpu architecture' >&2; exit 1\n"))
    script.chmod(0o755)
    return str(script)


def test_nvcc_architectures_with_suffixes_are_read(tmp_path):
    """nvcc 12.x lists compute_90a and compute_100a beside the plain numbers."""
    nvcc = fake_nvcc(tmp_path, "compute_75\\ncompute_90\\ncompute_90a\\ncompute_100a\\n",
                     False)
    assert build.nvcc_archs(nvcc) == [75, 90]


def test_a_failing_nvcc_builds_the_interposer_without_kernels(tmp_path, capfd):
    """The interposer is built, says why it has no kernels, and mpicomm info shows it."""
    nvcc = fake_nvcc(tmp_path, "compute_80\\n", False)
    meta = build.build(force=True, quiet=True, nvcc=nvcc)
    assert Path(meta["library"]).exists()
    assert meta["cuda_kernels"] is False
    assert "compiling the CUDA kernels failed" in meta["cuda_error"]
    assert "Unsupported gpu architecture" in meta["cuda_error"]
    assert "building without CUDA kernels" in capfd.readouterr().err
    from mpicomm import cli
    assert cli._cuda_kernels_row(meta).startswith("no (compiling the CUDA kernels failed")


def test_the_cuda_wheels_nvcc_builds_the_kernels(tmp_path):
    """pip install mpicomm[cuda] (make setup does) brings NVIDIA's nvcc and runtime as
    wheels: found without a CUDA toolkit, and enough to build the kernels."""
    wheels = build._wheel_nvccs()
    if not wheels:
        pytest.skip("the NVIDIA nvcc wheels are not installed (pip install mpicomm[cuda])")
    env = {k: v for k, v in os.environ.items() if k != "MPICOMM_NVCC"}
    env["PATH"] = "/usr/bin:/bin"
    found = subprocess.run([sys.executable, "-c", "from mpicomm import build; "
                            "print(build.choose_nvcc())"], env=env, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert found in wheels or found == "/usr/local/cuda/bin/nvcc", found
    cuda = build._compile_cuda(wheels[0], build.source_dir(), tmp_path / "k.so", True)
    assert cuda["kernels"] == 91 and cuda["archs"] and (tmp_path / "k.so").exists()
    assert not [n for n in needed(str(tmp_path / "k.so")) if "cudart" in n]


def needed(lib):
    out = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True, check=True)
    return [ln.split("[")[1].rstrip("]") for ln in out.stdout.splitlines() if "(NEEDED)" in ln]


def test_the_interposer_links_no_cuda():
    """The same build loads on a machine without a CUDA driver: CUDA is reached with dlopen
    only, and the kernels' library carries the CUDA runtime inside it."""
    meta = build.build(quiet=True)
    assert not [n for n in needed(meta["library"]) if "cuda" in n.lower()]
    if meta["cuda_kernels"]:
        assert not [n for n in needed(meta["cuda_kernels"]["library"]) if "cudart" in n]


SEND_DEVICE_TO_MPI = """
import numpy as np
from mpi4py import MPI
from mpicomm import device
from mpicomm.interposer import Interposer
t = MPI.DOUBLE.Create_vector(4, 1, 2).Commit()
d = device.asarray(np.arange(8.0))
out = bytearray(32)
if {bypass}:
    Interposer().set_enabled(False)
t.Pack(d, out, 0, MPI.COMM_SELF)
print("packed", np.frombuffer(out).tolist())
"""


def test_simulated_device_memory_faults_in_the_mpi():
    """Device memory of the simulated device is no host memory in disguise: with the
    interposer switched off the MPI reads the pointer itself and the process dies, as it
    would on a GPU pointer; with it, the bytes come out right."""
    ok = mpicomm_run(1, [sys.executable, "-c", SEND_DEVICE_TO_MPI.format(bypass=False)],
                     env=SIM, timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "packed [0.0, 2.0, 4.0, 6.0]" in ok.stdout
    bad = mpicomm_run(1, [sys.executable, "-c", SEND_DEVICE_TO_MPI.format(bypass=True)],
                      env=SIM, timeout=120)
    assert bad.returncode != 0
    assert "packed" not in bad.stdout


def test_simulated_device_without_the_interposer_says_how_to_get_it():
    import os
    env = dict(os.environ, MPICOMM_DEVICE="sim")
    env.pop("LD_PRELOAD", None)
    out = subprocess.run([sys.executable, "-c", "from mpicomm import device; device.empty(4)"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode != 0
    assert "mpicomm run" in out.stderr and "mpicomm.interposer.load()" in out.stderr


def test_gpu_bench_checks_bytes_on_the_simulated_device():
    """benchmarks/gpu_bench.py on the simulated device: every device MPI_Pack of the pack
    suite equals the MPI's bytes, every halo method leaves the ghosts right."""
    bench = str(HERE.parent / "benchmarks" / "gpu_bench.py")
    res = mpicomm_run(2, [sys.executable, bench, "--quick", "--halo", "12", "--reps", "1"],
                      env=SIM, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "simulated device" in res.stdout and "DIFFER" not in res.stdout
    assert [m for m in ("staged", "oneshot", "auto")
            if f"halo 12^3 {m}" in res.stdout and "ghosts OK" in res.stdout] == \
        ["staged", "oneshot", "auto"]


JOB = str(HERE / "support" / "device_job.py")


def device_job(what, nprocs=2, **env):
    res = mpicomm_run(nprocs, [sys.executable, JOB, what], env={**SIM, **env}, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    import json
    stats = [json.loads(ln.split(" ", 1)[1]) for ln in res.stdout.splitlines()
             if ln.startswith("stats ")]
    assert len(stats) == nprocs, res.stdout
    return res, stats


RANKS = [1, 2, 3]


@pytest.mark.parametrize("nprocs", RANKS)
def test_a_driver_older_than_the_kernels_falls_back_to_host_packing(nprocs):
    """MPICOMM_SIM_FAIL=launch fails every launch as a CUDA 13 kernel on an r550 driver
    does: the probe's trial launch finds it, each rank says why once, and every byte is
    still right, packed through host memory."""
    res, stats = device_job("exchange", nprocs, MPICOMM_SIM_FAIL="launch")
    warn = [ln for ln in res.stderr.splitlines() if "device kernels cannot run" in ln]
    assert len(warn) == nprocs, res.stderr
    assert all("cudaErrorInsufficientDriver" in ln and "trial launch" in ln for ln in warn)
    assert res.stdout.count("ok exchange 1") == nprocs
    assert all(s["kernel_launches"] == 0 and s["method_staged"] > 0 for s in stats), stats


@pytest.mark.parametrize("nprocs", RANKS)
def test_failing_allocations_fall_back_to_pageable_memory(nprocs):
    """MPICOMM_SIM_FAIL=alloc: no device or pinned memory from the driver. The bytes are
    right through pageable host memory; the warning names the driver's error once."""
    res, stats = device_job("exchange", nprocs, MPICOMM_SIM_FAIL="alloc")
    warn = [ln for ln in res.stderr.splitlines() if "pageable host memory" in ln]
    assert len(warn) == nprocs, res.stderr
    assert all("CUDA_ERROR_OUT_OF_MEMORY" in ln for ln in warn), res.stderr
    assert res.stdout.count("ok exchange 1") == nprocs
    assert all(s["host_fallbacks"] > 0 and s["device_allocs"] == 0 for s in stats), stats


def test_the_kernels_run_and_are_counted():
    res, stats = device_job("exchange")
    assert "cannot run" not in res.stderr and "pageable" not in res.stderr, res.stderr
    assert all(s["kernel_launches"] > 0 and s["device_allocs"] > 0 for s in stats), stats


@pytest.mark.parametrize("nprocs", RANKS)
def test_the_device_path_recovers_after_the_program_resets_the_device(nprocs):
    """device.reset() (cudaDeviceReset) destroys the context with the interposer's stream
    and pooled memory; the next calls start over, and the bytes are right."""
    res, stats = device_job("reset", nprocs)
    assert res.stdout.count("ok exchange 2") == nprocs, res.stdout


@pytest.mark.parametrize("nprocs", RANKS)
def test_finalize_frees_the_driver_memory_in_each_devices_context(nprocs):
    """At MPI_Finalize every pinned and device buffer the interposer took from the driver
    is freed (the simulated cuMemFree, as CUDA's, needs the device's context current)."""
    res, stats = device_job("finalize", nprocs, MPICOMM_SIM_DEVICES="2")
    assert all(s["live_after_finalize"] == 0 and s["device_allocs"] > 0 for s in stats), stats


def test_bad_simulated_device_settings_are_named():
    res, _ = device_job("exchange", nprocs=1, MPICOMM_SIM_DEVICES="lots",
                        MPICOMM_SIM_FAIL="launch,nothing")
    assert "MPICOMM_SIM_DEVICES=lots is not a number of devices" in res.stderr
    assert "nothing is not one of launch, alloc" in res.stderr
