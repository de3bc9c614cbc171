from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from kfm_gate.errors import LockError, PathError
from kfm_gate.layout import Layout, atomic_write


def test_resolves_inside_allowed_roots(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert (
        layout.resolve_relative("data/processed/a/b.csv")
        == tmp_path.resolve() / "data/processed/a/b.csv"
    )
    assert layout.resolve_relative("mcp/runs/x/decision.json").name == "decision.json"


@pytest.mark.parametrize(
    "bad",
    ["/etc/passwd", "data/processed/../../etc/passwd", "..", "data/raw/x.csv", "C:/x", "README.md"],
)
def test_refuses_paths_outside(tmp_path: Path, bad: str) -> None:
    with pytest.raises(PathError):
        Layout(tmp_path).resolve_relative(bad)


def test_refuses_link_that_leaves_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "data" / "processed").mkdir(parents=True)
    (tmp_path / "data" / "processed" / "escape").symlink_to(outside)
    with pytest.raises(PathError, match="outside"):
        Layout(tmp_path).resolve_relative("data/processed/escape/file.csv")


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "mcp" / "runs" / "r" / "f.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]


def test_write_bytes_refuses_outside(tmp_path: Path) -> None:
    with pytest.raises(PathError):
        Layout(tmp_path).write_bytes(tmp_path / "elsewhere.txt", b"x")
    assert not (tmp_path / "elsewhere.txt").exists()


def test_run_lock_is_exclusive(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    errors: list[Exception] = []
    with layout.run_lock("run_a"):

        def other() -> None:
            try:
                with layout.run_lock("run_a"):
                    pass
            except LockError as err:
                errors.append(err)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        with layout.run_lock("run_b"):  # another run id is independent
            pass
    assert len(errors) == 1 and "another process" in str(errors[0])
    with layout.run_lock("run_a"):  # released
        pass


def test_a_root_that_is_a_link_elsewhere_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "processed").symlink_to(elsewhere)
    with pytest.raises(PathError, match="outside"):
        Layout(repo).resolve_relative("data/processed/x.csv")
    with pytest.raises(PathError):
        Layout(repo).write_bytes(repo / "data" / "processed" / "x.csv", b"x")
    assert not (elsewhere / "x.csv").exists()


def test_resolving_below_the_root_is_resolving(tmp_path: Path) -> None:
    """The shortcut of check_inside (look only below the resolved root, stop at a missing
    part) gives what Path.resolve gives, links and missing parts included."""
    import itertools

    root = tmp_path / "repo"
    (root / "data" / "stac" / "c").mkdir(parents=True)
    (root / "mcp" / "runs").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "data" / "stac" / "link-out").symlink_to(outside)
    (root / "data" / "stac" / "link-in").symlink_to(root / "mcp" / "runs")
    (root / "mcp" / "runs" / "dangling").symlink_to(tmp_path / "nowhere")
    (root / "data" / "stac" / "c" / "file.json").write_text("{}")
    layout = Layout(root)
    names = [
        "data",
        "stac",
        "c",
        "link-out",
        "link-in",
        "dangling",
        "mcp",
        "runs",
        "new",
        "file.json",
    ]
    checked = 0
    for depth in (1, 2, 3, 4):
        for parts in itertools.product(names, repeat=depth):
            path = root.joinpath(*parts)
            assert layout._resolve_below_root(path) == path.resolve(), path
            checked += 1
    assert checked > 10_000
    linked_root = tmp_path / "repo-link"
    linked_root.symlink_to(root)
    via = Layout(linked_root)
    assert via._resolve_below_root(linked_root / "data" / "stac") == root / "data" / "stac"


def test_written_files_are_readable_as_the_umask_allows(tmp_path: Path) -> None:
    """Records and catalogs get 0o666 less the umask (not mkstemp's 0600), so a web server
    or another user can read a published catalog; the masking key keeps 0600 elsewhere."""
    from kfm_gate.layout import file_mode
    from kfm_gate.samples import sample_draft
    from tests.helpers import record_and_publish

    umask = os.umask(0o022)
    os.umask(umask)
    assert file_mode() == 0o666 & ~umask
    draft = sample_draft("allow")
    done = record_and_publish(draft, tmp_path)
    item = tmp_path / done.stac_item
    run_dir = Layout(tmp_path).run_dir(draft.decision.run_id)
    for path in (
        item,
        item.parent / "prov.ttl",
        run_dir / "prov.jsonld",
        run_dir / "ledger-entry.json",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
