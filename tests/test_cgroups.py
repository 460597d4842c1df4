"""Where a run's cgroups go and what they are told, for cgroup v1 and v2, on a fake folder.

This machine's own hierarchy is exercised by tests/test_isolation.py; here the other layout's
file writes are checked against a folder laid out as the kernel lays out its own.
"""

from __future__ import annotations

from pathlib import Path

from labkit.sandbox import cgroups
from labkit.sandbox.cgroups import V1, V2, Cgroups

V2_MOUNTS = """\
24 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw
30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
"""
V1_MOUNTS = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V1_MEMBERSHIP = """\
9:name=systemd:/
8:pids:/grading
4:memory:/docker/abc/grading
2:cpu,cpuacct:/docker/abc/grading
0::/
"""


def test_v1_finds_the_graders_own_cgroup_in_each_hierarchy():
    """Each controller's mount, whatever its root, and two controllers mounted as one."""
    found = cgroups.own_folders(V1, V1_MOUNTS, V1_MEMBERSHIP)
    assert found == {
        "memory": Path("/sys/fs/cgroup/memory/grading"),
        "pids": Path("/sys/fs/cgroup/pids/grading"),
        "cpu": Path("/sys/fs/cgroup/cpu,cpuacct/grading"),
        "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct/grading"),
    }


def test_v2_finds_the_graders_own_cgroup():
    found = cgroups.own_folders(V2, V2_MOUNTS, "0::/system.slice/grader.service\n")
    assert found == {"unified": Path("/sys/fs/cgroup/system.slice/grader.service")}
    assert cgroups.own_folders(V1, V2_MOUNTS, "0::/system.slice/grader.service\n") == {}


def fake_v2(tmp_path: Path) -> Path:
    """The grader's own v2 cgroup, as the kernel shows it: controllers not yet handed on."""
    own = tmp_path / "system.slice" / "grader.service"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text("\n")
    (own / "cgroup.procs").write_text("4242\n")
    return own


def test_v2_nests_the_run_under_the_graders_cgroup_and_writes_its_limits(tmp_path):
    own = fake_v2(tmp_path)
    run = Cgroups.create("labkit-run", located=(V2, {"unified": own}))
    assert run.folders == {"unified": own / "labkit-run"}
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (own / "labkit-run" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    procs = run.add("0", 3 * 2**30)
    lab = own / "labkit-run" / "0"
    assert procs == [f"{cgroups.MOUNT}/unified/0/cgroup.procs"]
    assert (lab / "memory.max").read_text() == str(3 * 2**30)
    assert (lab / "pids.max").read_text() == str(cgroups.MAX_TASKS)
    assert (lab / "cpu.max").read_text() == f"{cgroups.CPUS * 100_000} 100000"
    assert run.binds() == ["--bind", str(own / "labkit-run"), f"{cgroups.MOUNT}/unified"]
    (lab / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    assert run.cpu_seconds("0") == 2.5
    assert run.cpu_seconds("1") is None  # no such child
    for file in [*lab.iterdir(), own / "labkit-run" / "cgroup.subtree_control"]:
        file.unlink()  # the kernel's own files go with their folder; a fake's must go first
    run.remove()
    assert not (own / "labkit-run").exists() and run.folders == {}


def test_v1_writes_a_file_per_controller_and_counts_cpu_in_nanoseconds(tmp_path):
    parents = {name: tmp_path / name / "grading" for name in V1.hierarchies}
    for folder in parents.values():
        folder.mkdir(parents=True)
    run = Cgroups.create("labkit-run", located=(V1, parents))
    run.add("0", 2**30)
    lab = {name: folder / "labkit-run" / "0" for name, folder in parents.items()}
    assert (lab["memory"] / "memory.limit_in_bytes").read_text() == str(2**30)
    assert (lab["pids"] / "pids.max").read_text() == str(cgroups.MAX_TASKS)
    assert (lab["cpu"] / "cpu.cfs_period_us").read_text() == "100000"
    assert (lab["cpu"] / "cpu.cfs_quota_us").read_text() == str(cgroups.CPUS * 100_000)
    (lab["cpuacct"] / "cpuacct.usage").write_text("12500000000\n")
    assert run.cpu_seconds("0") == 12.5


def test_no_cgroups_without_the_memory_and_process_caps(tmp_path):
    """A cpu controller alone caps too little; the run then goes without cgroups."""
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    run = Cgroups.create("labkit-run", located=(V1, {"cpu": cpu}))
    assert run.folders == {} and not (cpu / "labkit-run").exists()
    assert run.add("0", 2**30) == [] and run.cpu_seconds("0") is None
