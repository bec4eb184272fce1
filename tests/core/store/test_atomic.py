"""A folder written aside and renamed into place: whole or not at all."""

import pytest

from core.store.atomic import atomic_folder


def test_the_folder_appears_whole_when_the_block_ends(tmp_path):
    target = tmp_path / "out"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_write_leaves_nothing_and_the_old_folder_as_it_was(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "new.txt").write_text("half")
            raise RuntimeError("killed")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_existing_folder_is_replaced(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_folder(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_scratch_elsewhere_on_the_same_disk(tmp_path):
    scratch, target = tmp_path / "tmp", tmp_path / "models" / "m"
    scratch.mkdir()
    target.parent.mkdir()
    with atomic_folder(target, scratch=scratch, prefix="import-") as tmp:
        assert tmp.parent == scratch and tmp.name.startswith("import-")
        (tmp / "config.json").write_text("{}")
    assert (target / "config.json").is_file()
    assert list(scratch.iterdir()) == []
