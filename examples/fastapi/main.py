"""A small FastAPI app: which worker answered, and how often the migration ran (migrate.py)."""
import os
import sqlite3

from fastapi import FastAPI

app = FastAPI()
WORKER = os.environ.get("APP_WORKER", "?")
DB = os.path.join(os.environ.get("DATA_DIR", "."), "app.db")


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.get("/{path:path}")
def hello(path: str):
    with sqlite3.connect(DB) as db:
        runs = db.execute("SELECT COUNT(*) FROM migrations").fetchone()[0]
    return {"worker": WORKER, "pid": os.getpid(), "path": "/" + path, "migrations": runs}
