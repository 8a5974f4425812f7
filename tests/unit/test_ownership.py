"""Temporary folders: a dead owner's are swept, a folder kept for the user never is."""

from difflayers.ownership import KEPT_MARKER, MARKER, Owner, dead_temp_dirs, keep_folder, make_temp_dir


def gone_owner() -> Owner:
    me = Owner.me()
    # The same machine, a process that does not run (its start time cannot match).
    return Owner(me.host, me.pid, "not-a-start-time")


def test_a_dead_owners_folder_is_swept(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = make_temp_dir(gone_owner())
    assert dead_temp_dirs(str(tmp_path)) == [folder]


def test_a_kept_folder_is_left_to_the_user(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = make_temp_dir(gone_owner())
    keep_folder(folder, "kept after a failed verification")
    assert dead_temp_dirs(str(tmp_path)) == []
    assert not (folder / MARKER).exists()
    assert "remove it yourself" in (folder / KEPT_MARKER).read_text()


def test_a_folder_killed_before_its_marker_is_swept_unless_kept_or_alive(tmp_path):
    import os
    import subprocess

    proc = subprocess.Popen(["true"])  # its PID then runs no more
    proc.wait()
    dead, alive = proc.pid, os.getpid()
    bare = tmp_path / f"difflayers-{dead}-abc"
    kept = tmp_path / f"difflayers-{dead}-def"
    mine = tmp_path / f"difflayers-{alive}-ghi"
    empty = tmp_path / f"difflayers-{dead}-jkl"
    for folder in (bare, kept, mine, empty):
        folder.mkdir()
    (kept / KEPT_MARKER).write_text("kept\n")
    (empty / MARKER).write_text("")  # killed while writing it
    (tmp_path / "difflayers-index-xyz").mkdir()  # another name of the kit's: no PID in it
    assert dead_temp_dirs(str(tmp_path)) == [bare, empty]


def test_a_failed_verification_keeps_the_folder_only_if_the_run_wrote_in_it(tmp_path, monkeypatch):
    import pytest

    from difflayers.cli.common import output_dir
    from difflayers.errors import VerificationFailed

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    for writes in (False, True):
        with pytest.raises(VerificationFailed), output_dir(None) as folder:
            if writes:
                (folder / "Dockerfile").write_text("FROM x\n")
            raise VerificationFailed("differs")
        assert folder.exists() is writes
        assert not writes or (folder / KEPT_MARKER).exists() and not (folder / MARKER).exists()
