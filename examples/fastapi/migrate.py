"""The migration step portico runs once (pre_start) before the first uvicorn worker: creates the schema and
records the run, so you can see it ran once however many workers start or restart."""
import os
import sqlite3
import time

path = os.path.join(os.environ.get("DATA_DIR", "."), "app.db")
with sqlite3.connect(path) as db:
    db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, at REAL NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS hits (worker TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("INSERT INTO migrations (at) VALUES (?)", (time.time(),))
    runs = db.execute("SELECT COUNT(*) FROM migrations").fetchone()[0]
print(f"INFO: migrated {path} (migration runs so far: {runs})", flush=True)
