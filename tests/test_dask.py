"""Batch runs on a real Dask cluster (two worker processes on loopback), and without Dask."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from smartframe.batch import frame_many
from smartframe.cli import main
from smartframe.errors import OptionError
from smartframe.scenes import landscape_with_subject

import batch_hooks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as local:
        yield local


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "in"
    paths = []
    for i, folder in enumerate(("a", "a", "b", "b")):
        path = root / folder / f"photo{i % 2}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(landscape_with_subject(640, 400, seed=i)[0]).save(path, quality=90)
        paths.append(path)
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    return root, paths


def manifest(out: Path) -> list[dict]:
    return [json.loads(l) for l in (out / "manifest.jsonl").read_text().splitlines()]


def test_a_folder_framed_on_a_dask_cluster_then_resumed(cluster, photos, tmp_path):
    root, paths = photos
    out = tmp_path / "out"
    report = frame_many([root], ["160x90", "sora-2"], out, strategy="centre",
                        scheduler=cluster.scheduler_address)
    assert (report.done, report.failed, report.exit_code) == (8, 2, 1)
    lines = manifest(out)
    assert sorted((l["input"], l["size"]) for l in lines) == sorted(
        (str(p), s) for p in [*paths, root / "b" / "broken.jpg"] for s in ("160x90", "sora-2"))
    workers = {l["worker"].rsplit(":", 1)[1] for l in lines if l["status"] == "done"}
    assert len(workers) >= 1  # done in the cluster's worker processes...
    assert str(__import__("os").getpid()) not in workers  # ...not in this one
    for line in lines:
        if line["status"] == "done":
            with Image.open(line["output"]) as image:
                assert image.size == ((160, 90) if line["size"] == "160x90" else (1280, 720))
        else:
            assert line["input"].endswith("broken.jpg") and line["error"]["kind"] == "input"
    # The same run again, through the command: only the broken file is tried again.
    result = CliRunner().invoke(main, ["batch", str(root), "--size", "160x90,sora-2", "--out", str(out),
                                       "--strategy", "centre", "--scheduler", cluster.scheduler_address])
    assert result.exit_code == 1, result.output
    assert "0 done, 2 failed, 8 already done" in result.output
    assert len(manifest(out)) == 10


def test_a_stuck_task_on_dask_times_out_and_its_worker_is_restarted(cluster, photos, tmp_path):
    root, _ = photos
    stuck = root / "a" / "stuck.jpg"
    stuck.write_bytes((root / "a" / "photo0.jpg").read_bytes())
    report = frame_many([root / "a"], ["160x90"], tmp_path / "out", strategy="centre",
                        scheduler=cluster.scheduler_address, timeout=1.0,
                        process_item=batch_hooks.stall_on_stuck)
    (failure,) = report.failures
    assert failure.input == str(stuck)
    assert (failure.error.type, failure.error.exit_code) == ("ProcessingTimeout", 6)
    assert report.done == 2
    # The cluster is whole again: both workers take new work (here through a Client object,
    # which frame_many uses and leaves open).
    import distributed

    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        again = frame_many([root / "b"], ["160x90"], tmp_path / "out2", strategy="centre",
                           scheduler=client)
        assert again.done == 2
        assert client.status == "running"


def test_without_dask_a_scheduler_is_a_usage_error_naming_the_extra(photos, tmp_path, monkeypatch):
    root, _ = photos
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "smartframe.batch.dask_engine", raising=False)
    with pytest.raises(OptionError, match=r"pip install \"\.\[dask\]\""):
        frame_many([root], ["160x90"], tmp_path / "out", scheduler="tcp://127.0.0.1:8786")
    result = CliRunner().invoke(main, ["batch", str(root), "--size", "160x90", "--out", str(tmp_path / "o"),
                                       "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2 and 'pip install ".[dask]"' in result.output
    assert not (tmp_path / "out").exists()
