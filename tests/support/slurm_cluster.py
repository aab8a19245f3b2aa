"""A real Slurm cluster for tests and benchmarks: Debian's munged, slurmctld and slurmd,
started as root in a private folder and stopped after.

    with SlurmCluster() as cluster:                  # or .start() / .stop()
        cluster.run(["salloc", "-n", "3", "mpicomm", "run", "--", "python", "x.py"])

One node: on free loopback ports. nodes=N > 1: each node is a slurmd in a network
namespace and a UTS namespace of its own (hostname node1, node2, ...), joined to the
controller by a bridge on a private 10.77.x.0/24 of this machine, so that MPI sees N
hosts and its ranks on different nodes talk over the network. Every node claims `cpus`
CPUs whatever the machine has (SlurmdParameters=config_overrides), so a 2-core machine
can hold a 4-task allocation, as an oversubscribed mpiexec does.
"""
import os
import random
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


def multinode_missing():
    """Why nodes=N > 1 cannot be had here (network namespaces), or None when it can."""
    reason = missing()
    if reason:
        return reason
    absent = [n for n in ("ip", "nsenter", "unshare") if not shutil.which(n)]
    if absent:
        return f"{', '.join(absent)} missing (iproute2, util-linux): no network namespaces"
    probe = f"mcprobe{os.getpid()}"
    res = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if res.returncode != 0:
        return f"network namespaces are not available here: {res.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
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


def _free_subnet():
    """A 10.77.x prefix no interface or route of this machine uses: a cluster killed
    before its stop leaves its bridge behind, and a second bridge on the same /24 would
    take the controller's traffic away from the nodes."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    free = [x for x in range(1, 255) if f"10.77.{x}." not in used]
    if not free:
        raise RuntimeError("no free 10.77.x.0/24 for a cluster's bridge: remove the "
                           "stale mcbr* bridges (ip link del) left by killed clusters")
    return f"10.77.{random.choice(free)}"


CONF = """\
ClusterName=mpicommtest
FirstJobId={first_job}
SlurmctldHost={host}({ctld_addr})
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
SlurmdPidFile={dir}/slurmd-%n.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd-%n.log
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
{nodes}PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _ip(*args):
    res = subprocess.run(["ip", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {res.stderr.strip()}")


class SlurmCluster:
    """munged + slurmctld + slurmd on this machine; clients reach it through SLURM_CONF."""

    def __init__(self, cpus=8, plugstack=(), nodes=1):
        self.cpus = cpus
        self.plugstack = list(plugstack)     # plugstack.conf lines (SPANK plugins)
        self.nodes = nodes
        self.dir = None
        self.procs = []
        self.net = None                      # nodes > 1: (bridge, [netns names])

    def start(self, timeout=60):
        reason = missing() if self.nodes == 1 else multinode_missing()
        if reason:
            raise RuntimeError(reason)
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        # 1. A private folder (munged wants its socket folder world-searchable) and a key.
        self.dir = Path(tempfile.mkdtemp(prefix="mpicomm-slurm-"))
        self.dir.chmod(0o755)
        host = socket.gethostname().split(".")[0]
        key = self.dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        (self.dir / "state").mkdir()
        # 2. The nodes: this host on loopback, or namespaced hosts on a bridge.
        if self.nodes == 1:
            ctld_addr, names, addrs = "127.0.0.1", [host], ["127.0.0.1"]
        else:
            ctld_addr, names, addrs = self._network()
        ctld_port, slurmd_port = _free_ports(2)
        # Job ids start at a random number: MPICH names its shared-memory files after the
        # job step (PMI namespace), so a cluster counting from 1 again would meet the files
        # an aborted step of an earlier cluster left in /dev/shm, and fail in MPI_Init.
        first_job = random.SystemRandom().randrange(1000, 60_000_000)
        conf = CONF.format(host=host, ctld_addr=ctld_addr, dir=self.dir, ctld_port=ctld_port,
                           first_job=first_job, slurmd_port=slurmd_port, nodes="".join(
                               f"NodeName={n} NodeAddr={a} CPUs={self.cpus} State=UNKNOWN\n"
                               for n, a in zip(names, addrs)))
        (self.dir / "plugstack.conf").write_text("".join(f"{ln}\n" for ln in self.plugstack))
        conf += f"PlugStackConfig={self.dir}/plugstack.conf\n"
        (self.dir / "slurm.conf").write_text(conf)
        for name in names:
            (self.dir / "spool" / name).mkdir(parents=True)
        # 3. The daemons, in the foreground of their own processes.
        d = self.dir
        self._spawn("munged", [_tool("munged"), "-F", "--force", f"--socket={d}/munge.sock",
                               f"--key-file={key}", f"--pid-file={d}/munged.pid",
                               f"--log-file={d}/munged.log", f"--seed-file={d}/munged.seed"])
        self._wait(lambda: (d / "munge.sock").exists(), timeout, "munged's socket")
        self._spawn("slurmctld", [_tool("slurmctld"), "-D", "-i"])
        if self.nodes == 1:
            self._spawn("slurmd", [_tool("slurmd"), "-D"])
        else:
            for name, ns in zip(names, self.net[1]):
                self._spawn(f"slurmd-{name}", self._node_argv(name, ns),
                            conf=self._node_conf(name, conf))
        # 4. Ready when every node is idle.
        self._wait(lambda: self.run(["sinfo", "-h", "-N", "-o", "%T"], timeout=10)
                   .stdout.split() == ["idle"] * self.nodes, timeout, "the nodes to become idle")
        return self

    def _network(self):
        """A bridge with the controller's address and one network namespace per node,
        joined to it by a veth pair: (controller address, node names, node addresses)."""
        tag = "%06x" % random.randrange(1 << 24)
        subnet = _free_subnet()
        bridge = f"mcbr{tag}"
        self.net = (bridge, [])
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        names, addrs = [], []
        for i in range(1, self.nodes + 1):
            ns, veth = f"mcn{tag}{i}", f"mcv{tag}{i}"
            _ip("netns", "add", ns)
            self.net[1].append(ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", bridge, "up")
            _ip("-n", ns, "addr", "add", f"{subnet}.{10 + i}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            names.append(f"node{i}")
            addrs.append(f"{subnet}.{10 + i}")
        return f"{subnet}.1", names, addrs

    def _node_conf(self, name, conf):
        """A node's own copy of slurm.conf, beside an mpi.conf that gives its PMIx plugin
        a folder of its own (the nodes share this machine's /tmp)."""
        folder = self.dir / name
        (folder / "pmix").mkdir(parents=True)
        (folder / "slurm.conf").write_text(conf)
        (folder / "mpi.conf").write_text(f"PMIxCliTmpDirBase={folder}/pmix\n")
        return folder / "slurm.conf"

    @staticmethod
    def _node_argv(name, ns):
        # nsenter, not `ip netns exec`, which remounts /sys without the cgroup tree slurmd
        # looks for.
        return ["nsenter", f"--net=/run/netns/{ns}", "unshare", "--uts", "sh", "-c",
                f"hostname {name} && exec {_tool('slurmd')} -D -N {name}"]

    def _spawn(self, name, argv, conf=None):
        log = open(self.dir / f"{name}.out", "w")
        env = self.env({"SLURM_CONF": str(conf)} if conf else None)
        self.procs.append((name, subprocess.Popen(argv, env=env, stdout=log,
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
        """os.environ with SLURM_CONF pointing at this cluster (and no job of the caller's).
        With several nodes, UCX (MPICH's network module) talks TCP between them: the
        namespaces share this machine's boot id, by which UCX would take them for one
        host and use shared memory (a 2 us round trip instead of the bridge's 10 us),
        where a cluster's nodes talk over the network; each node's ranks still share
        memory through the MPI's own intra-node path."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.dir / "slurm.conf")
        if self.nodes > 1:
            env.setdefault("UCX_TLS", "tcp,self")
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
        if self.net:
            bridge, namespaces = self.net
            for ns in namespaces:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
            self.net = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
