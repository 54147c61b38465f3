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


def test_stored_runs_are_keyed_by_version_and_source(monkeypatch) -> None:
    """A sweep's stored runs follow the version as well as the source; the workers'
    check follows the source alone."""
    key, identity = provenance.code_fingerprint(), provenance.code_identity()
    monkeypatch.setattr(provenance, "__version__", "0.0.0+unknown")
    provenance.code_fingerprint.cache_clear()
    provenance.code_identity.cache_clear()
    try:
        assert provenance.code_fingerprint() != key
        assert provenance.code_identity() == identity
    finally:
        monkeypatch.undo()
        provenance.code_fingerprint.cache_clear()
        provenance.code_identity.cache_clear()
    assert provenance.code_fingerprint() == key
