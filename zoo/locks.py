"""One run per directory: an exclusive lock that names its holder and dies with it.

A run (zoo-train on its workdir, zoo-export on the workdir it exports, zoo-tune on its search
directory) holds `fcntl.flock` on `<directory>/.zoo-lock` for its whole length, and writes into
that file who holds it (process id, host, program, start time), so a second run on the same
directory is refused in one line naming them instead of interleaving its checkpoints with the
first. The kernel releases a flock when its process ends, however it ends (`kill -9` included),
so a lock file whose lock is free was left by a process that died holding it: the next run takes
it over and says so. The holder removes the file when it ends normally.
"""

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
import time

from zoo.errors import UserError

LOCK_FILE = ".zoo-lock"
# How long a refused run waits for the holder to finish writing its record (it writes it right
# after taking the lock).
RECORD_WAIT_SECONDS = 1.0


def _read(fd):
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def describe(record):
    """'process 123 on host h (zoo-train, since 2026-12-02 10:00:00 +0000)' from a lock record."""
    if not record:
        return "another process (it has not written its record yet)"
    return (f"process {record.get('pid', '?')} on host {record.get('host', '?')} "
            f"({record.get('program', '?')}, since {record.get('started', '?')})")


def _refusal(fd):
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    holder = _read(fd)
    while holder is None and time.monotonic() < deadline:
        time.sleep(0.05)
        holder = _read(fd)
    return holder


@contextlib.contextmanager
def hold(directory, what="workdir", flag="--workdir"):
    """Holds `directory`'s lock for the length of the `with` block (creating the directory).

    Raises UserError naming the holder when another live process holds it; prints one line when it
    takes over a lock left by a dead one. On exit the lock file is removed, and so is the directory
    and its parents, when this call created them and nothing was written into them (a refused
    run leaves no trace).
    """
    created = []  # The directories this call creates, deepest first.
    missing = os.path.abspath(directory)
    while not os.path.isdir(missing):
        created.append(missing)
        missing = os.path.dirname(missing)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, LOCK_FILE)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _refusal(fd)
            os.close(fd)
            raise UserError(f"{what} {directory!r} is in use by {describe(holder)}: a second run would interleave "
                            f"its writes with that one's; wait for it to end (or stop it), or pass another "
                            f"{flag}") from None
        # A holder that ended unlinked the file it locked: if ours is no longer the file at `path`,
        # we locked a removed file (opened just before its removal) and must try again.
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        previous = _read(fd)
        if previous:
            print(f"took over the lock of {what} {directory!r}: {describe(previous)} ended without releasing it "
                  f"(it is no longer running)", flush=True)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "program": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python",
                  "started": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")}
        data = json.dumps(record).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield record
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # While still holding it, so no one locks the file being removed.
        os.close(fd)
        for made in created:
            try:
                os.rmdir(made)  # Only if empty.
            except OSError:
                break
