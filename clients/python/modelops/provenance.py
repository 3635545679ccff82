"""What a run can learn about where it runs: code version, machine and command line."""

import os
import platform
import shutil
import socket
import subprocess
import sys


def _run(*command, cwd=None):
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def git_info(directory=None):
    """(sha, remote URL) of the git work tree at directory (the working directory by default); empty when not in one.

    A work tree with uncommitted changes gets "-dirty" after its sha: the commit alone would not reproduce the run.
    """
    directory = directory or os.getcwd()
    if not shutil.which("git"):
        return "", ""
    sha = _run("git", "rev-parse", "HEAD", cwd=directory)
    if sha and _run("git", "status", "--porcelain", "--untracked-files=no", cwd=directory):
        sha += "-dirty"
    remote = _run("git", "config", "--get", "remote.origin.url", cwd=directory)
    return sha, remote


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus():
    """Names of the NVIDIA GPUs nvidia-smi reports; empty without one."""
    if not shutil.which("nvidia-smi"):
        return []
    names = _run("nvidia-smi", "--query-gpu=name", "--format=csv,noheader")
    return [name.strip() for name in names.splitlines() if name.strip()]


def hardware():
    """A description of the machine: CPU model and count, memory, GPUs."""
    parts = [f"{os.cpu_count() or 1} x {cpu_model()}", platform.machine()]
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        parts.append(f"{pages * page_size / 2**30:.1f} GiB RAM")
    except (ValueError, OSError, AttributeError):
        pass
    found = gpus()
    parts.append("GPU: " + ", ".join(found) if found else "no GPU")
    return "; ".join(parts)


def hostname():
    return socket.gethostname()


def entry_point():
    """The command that started this process, as a shell would run it."""
    executable = os.path.basename(sys.executable) or "python3"
    return " ".join([executable] + [_quote(arg) for arg in sys.argv if arg])


def _quote(value):
    safe = all(c.isalnum() or c in "._-/:=,@" for c in value)
    return value if value and safe else "'" + value.replace("'", "'\\''") + "'"


def detect(directory=None):
    """The provenance fields this process can fill in by itself."""
    sha, remote = git_info(directory)
    fields = {"hardware": hardware(), "entry_point": entry_point()}
    if sha:
        fields["git_sha"] = sha
    if remote:
        fields["repo_url"] = remote
    return fields
