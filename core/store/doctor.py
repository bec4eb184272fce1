"""``superhf doctor``: is the workspace whole? The database's integrity and foreign keys, and
every file the database points at. Each problem comes with what to do about it."""

from __future__ import annotations

from pathlib import Path

from core.store.database import Store


def check_workspace(store: Store) -> dict:
    problems: list[str] = []
    notes: list[str] = []
    integrity = [r[0] for r in store.db.execute("PRAGMA integrity_check").fetchall()]
    if integrity != ["ok"]:
        problems.append("The database is damaged: " + "; ".join(integrity[:3]) + ". Restore the newest copy "
                        f"from {store.workspace.home / 'backups'} (quit the app first), or export what you can.")
    broken = store.db.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        problems.append(f"{len(broken)} rows point at rows that no longer exist (first in table {broken[0][0]}). "
                        "Report this; the rest of the workspace is usable.")
    for m in store.all("SELECT name, path FROM models"):
        if not (Path(m["path"]) / "config.json").is_file():
            problems.append(f"Model '{m['name']}': its folder {m['path']} is gone or incomplete. Put it back, or "
                            "import the model again under another name.")
    for r in store.all("SELECT name, version, path FROM reward_models"):
        if not (Path(r["path"]) / "head.safetensors").is_file():
            problems.append(f"Reward model '{r['name']}' v{r['version']}: its files are gone from {r['path']}. "
                            "Train it again: superhf reward train")
    for c in store.all("SELECT r.name, c.iteration, c.path FROM checkpoints c JOIN runs r ON r.id = c.run_id "
                       "WHERE c.id IN (SELECT max(id) FROM checkpoints GROUP BY run_id)"):
        if not Path(c["path"]).is_dir():
            problems.append(f"Run '{c['name']}': its checkpoint of iteration {c['iteration']} is gone from "
                            f"{c['path']}. The run cannot resume; its exports and metrics are unaffected.")
    for r in store.all("SELECT name FROM runs WHERE status = 'running'"):
        notes.append(f"Run '{r['name']}' is marked running: if no process is training it, it was interrupted. "
                     f"Resume it: superhf resume {r['name']}")
    scratch = list(store.workspace.tmp_dir.iterdir())
    if scratch:
        notes.append(f"{len(scratch)} scratch entries in {store.workspace.tmp_dir} (left by interrupted work; "
                     "removed automatically once a day old).")
    counts = {t: store.count(t) for t in ("models", "prompts", "generations", "ratings", "reward_models", "runs")}
    return {"ok": not problems, "problems": problems, "notes": notes, "counts": counts,
            "backups": len(list((store.workspace.home / "backups").glob("superhf-*.db")))}
