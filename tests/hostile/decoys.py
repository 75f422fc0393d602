"""The output folder of a careless user, for replaying the negative corpus: a symlink to a
folder outside it, a symlinked file, dot-files, and a source folder with the user's code."""

from __future__ import annotations

from pathlib import Path


def make_decoys(out: Path, victim: Path) -> None:
    victim.mkdir()
    (victim / "secret.txt").write_text("outside the output folder")
    out.mkdir()
    (out / "link").symlink_to(victim, target_is_directory=True)
    (out / "model.link").symlink_to(victim / "secret.txt")
    (out / ".bashrc").write_text("the user's shell settings")
    (out / ".ssh").mkdir()
    (out / ".ssh" / "authorized_keys").write_text("the user's key")
    (out / "src").mkdir()
    (out / "src" / "app.py").write_text("the user's code")
    (out / "src" / "util.py").write_text("more of the user's code")
    (out / "notes.txt").write_text("the user's notes")
