"""The one atomic writer: a file or a folder is written under a hidden temporary name and takes its final
name only when complete; failures, SIGTERM and (at the next write or a start-up sweep) SIGKILL leave nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qgis_csp_plugin.contract import temp_files
from qgis_csp_plugin.contract.temp_files import atomic_file, atomic_folder, sweep_folder

REPO = Path(__file__).resolve().parents[2]


def test_atomic_file_replaces_the_target_only_when_complete(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".model.onnx.") and temp.name.endswith(".part")
        temp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["model.onnx"]
    with atomic_file(target) as temp:
        temp.write_text("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["model.onnx"]


def test_atomic_folder_replaces_a_full_folder_and_keeps_it_on_failure(tmp_path):
    target = tmp_path / "shards"
    (target / "train").mkdir(parents=True)
    (target / "train" / "0.bin").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(target) as folder:
        (folder / "train").mkdir()
        raise RuntimeError("killed build")
    assert (target / "train" / "0.bin").read_text() == "old" and os.listdir(tmp_path) == ["shards"]
    with atomic_folder(target) as folder:
        (folder / "index.json").write_text("{}")
    assert os.listdir(target) == ["index.json"] and os.listdir(tmp_path) == ["shards"]
    with atomic_folder(tmp_path / "new") as folder:  # no previous folder
        (folder / "a").write_text("a")
    assert (tmp_path / "new" / "a").read_text() == "a" and sorted(os.listdir(tmp_path)) == ["new", "shards"]


def test_a_failed_swap_puts_the_previous_folder_back(tmp_path, monkeypatch):
    """The new folder cannot take the old one's place (e.g. a file in use on Windows): the old one returns."""
    target = tmp_path / "deps"
    target.mkdir()
    (target / "keep").write_text("old")
    real_replace = os.replace

    def refuse_the_new_folder(source, destination):
        if Path(destination) == target and Path(source).name.endswith(".part"):
            raise PermissionError(13, "in use", str(destination))
        real_replace(source, destination)

    monkeypatch.setattr(temp_files.os, "replace", refuse_the_new_folder)
    with pytest.raises(PermissionError), atomic_folder(target) as folder:
        (folder / "new").write_text("new")
    assert os.listdir(target) == ["keep"] and os.listdir(tmp_path) == ["deps"]


def test_the_start_up_sweep_removes_only_temporaries_of_gone_processes(tmp_path):
    gone = [tmp_path / ".a.tif.999999999-1f2e.part", tmp_path / ".cache.999999998-00aa.part",
            tmp_path / ".b.tif.999999999-1f2e.part.aux.xml"]
    gone[1].mkdir()
    (gone[1] / "x.npy").write_text("x")
    for path in (gone[0], gone[2]):
        path.touch()
    kept = [tmp_path / ".a.tif.1-1f2e.part", tmp_path / ".hidden", tmp_path / "a.tif"]  # pid 1 always runs
    for path in kept:
        path.touch()
    assert sorted(sweep_folder(tmp_path)) == sorted(gone)
    assert sorted(tmp_path.iterdir()) == sorted(kept)
    assert sweep_folder(tmp_path / "missing") == []


def test_sigterm_during_an_atomic_folder_leaves_the_previous_folder_alone(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("old")
    code = ("import sys, time\n"
            "from pathlib import Path\n"
            "from qgis_csp_plugin.contract.temp_files import atomic_folder, install_sigterm_cleanup\n"
            "assert install_sigterm_cleanup()\n"
            "with atomic_folder(Path(sys.argv[1])) as folder:\n"
            "    (folder / 'half').write_text('half')\n"
            "    print('writing', flush=True)\n"
            "    time.sleep(120)\n")
    run = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "out")], cwd=REPO, stdout=subprocess.PIPE,
                           text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.stdout.readline().strip() == "writing" and len(os.listdir(tmp_path)) == 2
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGTERM
    assert os.listdir(tmp_path) == ["out"] and os.listdir(tmp_path / "out") == ["old"]


def test_a_forked_child_stopped_by_sigterm_leaves_its_parents_temporaries(tmp_path):
    """A forked child (a DataLoader worker, which its loader may stop with SIGTERM) inherits the SIGTERM cleanup
    but not the temporaries: they belong to the parent, which is still writing them."""
    code = ("import multiprocessing, sys, time\n"
            "from pathlib import Path\n"
            "from qgis_csp_plugin.contract.temp_files import install_sigterm_cleanup, remove, temp_folder\n"
            "assert install_sigterm_cleanup()\n"
            "temp = temp_folder(Path(sys.argv[1]))\n"
            "child = multiprocessing.get_context('fork').Process(target=time.sleep, args=(120,))\n"
            "child.start()\n"
            "time.sleep(0.5)\n"
            "child.terminate()\n"
            "child.join(60)\n"
            "print(child.exitcode, temp.is_dir())\n"
            "remove(temp)\n")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(-signal.SIGTERM), "True"] and os.listdir(tmp_path) == []
