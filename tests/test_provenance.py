"""What code made a result: the source fingerprint that keys stored sweep runs and that
a cluster's workers must share with the process gathering a run."""

from __future__ import annotations

from pathlib import Path

from rassim import provenance


def test_the_source_fingerprint_follows_every_module(tmp_path: Path) -> None:
    package = tmp_path / "package"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    first = provenance.source_fingerprint(package)
    (package / "notes.txt").write_text("not code")
    (package / "sub" / "__pycache__").mkdir()
    (package / "sub" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"\0")
    assert provenance.source_fingerprint(package) == first  # only modules count
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert provenance.source_fingerprint(package) != first
    (package / "sub" / "b.py").write_text("y = 2\n")
    (package / "sub" / "b.py").rename(package / "sub" / "c.py")
    assert provenance.source_fingerprint(package) != first  # a module's path counts too
