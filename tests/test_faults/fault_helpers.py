"""Fault-suite helpers: damaged files, small filesystems, algorithms run in their own QGIS process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
MODELS = REPO / "models"
SCRIPT = Path(__file__).resolve().parent / "run_algorithm.py"


@dataclass
class Outcome:
    returncode: int
    message: str  # "RESULT OK" or the "ERROR: ..." line

    @property
    def crashed(self) -> bool:
        return self.returncode not in (0, 1)


def start_algorithm(algorithm: str, parameters: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), algorithm, json.dumps(parameters)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"})


def outcome(process: subprocess.Popen, timeout: float = 300) -> Outcome:
    stdout, stderr = process.communicate(timeout=timeout)
    lines = [line for line in stdout.splitlines() if line.startswith(("RESULT OK", "ERROR: "))]
    return Outcome(process.returncode, lines[-1] if lines else f"no result; stderr: {stderr[-2000:]}")


def run_algorithm(algorithm: str, parameters: dict, timeout: float = 300) -> Outcome:
    return outcome(start_algorithm(algorithm, parameters), timeout)


def mount_tmpfs(folder: Path, size: str, read_only: bool = False) -> None:
    """Mount a tmpfs of ``size`` at ``folder``, or skip the test saying why it cannot."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (run the fault suite as root, e.g. in CI's container)")
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mount is not permitted here: {result.stderr.strip() or result.returncode}")


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def truncate(source: Path, target: Path, keep: float = 0.4) -> Path:
    """A copy of ``source`` cut after ``keep`` of its bytes (a partial download or copy)."""
    data = source.read_bytes()
    target.write_bytes(data[:int(len(data) * keep)])
    return target


def fill(folder: Path) -> None:
    """Fill a filesystem so that the next write fails."""
    try:
        with open(folder / "ballast", "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:  # ENOSPC, on a write or on closing
        pass
