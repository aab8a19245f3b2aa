"""A real one-node Slurm cluster for tests and benchmarks: Debian's munged, slurmctld and
slurmd, started as root in a private folder on free loopback ports and stopped after.

    with SlurmCluster() as cluster:                  # or .start() / .stop()
        cluster.run(["salloc", "-n", "3", "mpicomm", "run", "--", "python", "x.py"])

The node claims `cpus` CPUs whatever the machine has (SlurmdParameters=config_overrides),
so a 2-core machine can hold a 4-task allocation, as an oversubscribed mpiexec does.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("srun", "sbatch", "salloc", "sinfo", "scancel")


def missing():
    """Why a cluster cannot be started here, or None when it can."""
    if os.geteuid() != 0:
        return "starting Slurm's daemons needs root (scripts/prereqs.sh installs them as root)"
    absent = [n for n in DAEMONS + CLIENTS
              if not shutil.which(n) and not os.access(f"/usr/sbin/{n}", os.X_OK)]
    if absent:
        return (f"Slurm is not installed ({', '.join(absent)} missing): scripts/prereqs.sh "
                "installs slurmd, slurmctld, slurm-client and munge as root")
    return None


def _tool(name):
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


CONF = """\
ClusterName=mpicommtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={dir}/munge.sock
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool/%n
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """munged + slurmctld + slurmd on this machine; clients reach it through SLURM_CONF."""

    def __init__(self, cpus=8, plugstack=()):
        self.cpus = cpus
        self.plugstack = list(plugstack)     # plugstack.conf lines (SPANK plugins)
        self.dir = None
        self.procs = []

    def start(self, timeout=60):
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        # 1. A private folder (munged wants its socket folder world-searchable) and a key.
        self.dir = Path(tempfile.mkdtemp(prefix="mpicomm-slurm-"))
        self.dir.chmod(0o755)
        host = socket.gethostname().split(".")[0]
        for sub in ("state", f"spool/{host}"):
            (self.dir / sub).mkdir(parents=True)
        key = self.dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        ctld_port, slurmd_port = _free_ports(2)
        conf = CONF.format(host=host, dir=self.dir, cpus=self.cpus, ctld_port=ctld_port,
                           slurmd_port=slurmd_port)
        (self.dir / "plugstack.conf").write_text("".join(f"{ln}\n" for ln in self.plugstack))
        conf += f"PlugStackConfig={self.dir}/plugstack.conf\n"
        (self.dir / "slurm.conf").write_text(conf)
        # 2. The daemons, in the foreground of their own processes.
        d = self.dir
        self._spawn("munged", [_tool("munged"), "-F", "--force", f"--socket={d}/munge.sock",
                               f"--key-file={key}", f"--pid-file={d}/munged.pid",
                               f"--log-file={d}/munged.log", f"--seed-file={d}/munged.seed"])
        self._wait(lambda: (d / "munge.sock").exists(), timeout, "munged's socket")
        self._spawn("slurmctld", [_tool("slurmctld"), "-D", "-i"])
        self._spawn("slurmd", [_tool("slurmd"), "-D"])
        # 3. Ready when the node is idle.
        self._wait(lambda: self.run(["sinfo", "-h", "-o", "%T"], timeout=10).stdout.strip()
                   == "idle", timeout, "the node to become idle")
        return self

    def _spawn(self, name, argv):
        log = open(self.dir / f"{name}.out", "w")
        self.procs.append((name, subprocess.Popen(argv, env=self.env(), stdout=log,
                                                  stderr=subprocess.STDOUT,
                                                  start_new_session=True)))
        log.close()

    def _wait(self, ready, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}):\n" + self.logs())
            try:
                if ready():
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}:\n" + self.logs())

    def logs(self):
        """The daemons' own output and logs, for a failure message."""
        out = []
        for path in sorted(self.dir.glob("*.out")) + sorted(self.dir.glob("*.log")):
            out.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def env(self, extra=None):
        """os.environ with SLURM_CONF pointing at this cluster (and no job of the caller's)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.dir / "slurm.conf")
        env.update(extra or {})
        return env

    def run(self, argv, timeout=300, env=None, cwd=None):
        """Run a client command (srun, salloc, sbatch, ...) against this cluster."""
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env(env), cwd=cwd,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def sbatch(self, script_args, ntasks, timeout=300, env=None, cwd=None):
        """Submit a batch job, wait for it, and return (exit status, its output)."""
        out = self.dir / f"job-{time.monotonic_ns()}.out"
        res = self.run(["sbatch", "--wait", "-n", str(ntasks), "-o", str(out), *script_args],
                       timeout=timeout, env=env, cwd=cwd)
        text = out.read_text(errors="replace") if out.exists() else ""
        return res.returncode, text + res.stderr

    def stop(self):
        if self.procs:
            try:
                self.run(["scancel", "--user", "root", "--full"], timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs = []
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
