"""zoo-tune across processes: keras-tuner's distributed mode, one search shared by several.

keras-tuner runs a search as a chief and workers named by three environment variables:
KERASTUNER_TUNER_ID ("chief" for the process serving the oracle, "tuner0", "tuner1", ... for
workers), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT (the chief's address). The chief's
`Tuner.search` serves the oracle over gRPC until every trial is done and every worker has been
told to stop; a worker's fetches trials from it, runs them and reports their scores. zoo-tune's
--tuner_id and --oracle=host:port set those variables for the length of a search (or they come
from the environment as keras-tuner reads them).

What lives where, on a file system every process shares:
- the chief holds the search directory's lock, writes search.json and keras-tuner's oracle
  state (so a rerun resumes), and at the end the table of trials and the best trial's export;
- a worker holds `<directory>/locks/worker-<tuner_id>` (a second worker with the same id would
  be handed the same trial), and each trial's lock `<directory>/locks/trial-<trial_id>` while it
  wipes, trains, exports and scores `<directory>/trials/<trial_id>/`, so no trial's workdir is
  ever written by two processes;
- a worker reads search.json (the chief's) and refuses to run trials of a different search.
"""

import contextlib
import dataclasses
import os
import re
import socket

from zoo.errors import UserError

TUNER_ID, ORACLE_IP, ORACLE_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"
CHIEF = "chief"
LOCKS_DIR = "locks"
_TUNER_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")


@dataclasses.dataclass(frozen=True)
class Role:
    """What this process is in a search: local (tuner_id None), the chief, or a worker."""

    tuner_id: str | None = None
    host: str | None = None
    port: int | None = None

    @property
    def distributed(self):
        return self.tuner_id is not None

    @property
    def chief(self):
        return self.distributed and CHIEF in self.tuner_id  # keras-tuner's own rule (dist_utils.is_chief_oracle).

    @property
    def worker(self):
        return self.distributed and not self.chief

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def environment(self):
        """The keras-tuner variables of this role ({} for a local search)."""
        if not self.distributed:
            return {}
        return {TUNER_ID: self.tuner_id, ORACLE_IP: self.host, ORACLE_PORT: str(self.port)}


def parse_oracle(address, what="--oracle"):
    """'host:port' -> (host, port); a bad one is one line."""
    host, sep, port = (address or "").rpartition(":")  # An IPv6 host keeps its brackets: [::1]:8000.
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{what}={address!r} must be host:port with a port from 1 to 65535, e.g. 127.0.0.1:8000")
    return host, int(port)


def role_of(tuner_id=None, oracle=None, environ=None):
    """The search's role from --tuner_id / --oracle, else from keras-tuner's environment variables.

    Either both are given (flags or variables) or neither; an incomplete set is one line.
    """
    environ = os.environ if environ is None else environ
    if tuner_id is None and oracle is None:
        if ORACLE_IP not in environ:
            return Role()  # keras-tuner runs locally whatever KERASTUNER_TUNER_ID says.
        if ORACLE_PORT not in environ or TUNER_ID not in environ:
            missing = [name for name in (TUNER_ID, ORACLE_PORT) if name not in environ]
            raise UserError(f"{ORACLE_IP} is set but {' and '.join(missing)} not: a distributed search needs all of "
                            f"{TUNER_ID}, {ORACLE_IP} and {ORACLE_PORT} (or --tuner_id and --oracle=host:port)")
        tuner_id, what = environ[TUNER_ID], f"{ORACLE_IP}:{ORACLE_PORT}"
        oracle = f"{environ[ORACLE_IP]}:{environ[ORACLE_PORT]}"
    elif tuner_id is None or oracle is None:
        given, missing = ("--oracle", "--tuner_id") if tuner_id is None else ("--tuner_id", "--oracle=host:port")
        raise UserError(f"{given} needs {missing}: a distributed search runs one --tuner_id=chief serving the oracle "
                        f"at --oracle=host:port and workers --tuner_id=tuner0, tuner1, ... with the same --oracle")
    else:
        what = "--oracle"
    if not _TUNER_ID_PATTERN.fullmatch(tuner_id):
        raise UserError(f"--tuner_id={tuner_id!r} must be letters, digits, '_', '.' or '-': chief for the process "
                        f"serving the oracle, e.g. tuner0, tuner1 for the workers")
    host, port = parse_oracle(oracle, what)
    return Role(tuner_id, host, port)


@contextlib.contextmanager
def environment(role):
    """Sets keras-tuner's variables to `role`'s for the `with` block (a local role clears them),
    then restores what was there: commands share a process in tests."""
    saved = {name: os.environ.get(name) for name in (TUNER_ID, ORACLE_IP, ORACLE_PORT)}
    for name in saved:
        os.environ.pop(name, None)
    os.environ.update(role.environment())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_port_free(role):
    """The chief refuses, in one line, an --oracle address it cannot serve on (gRPC would only
    log it, and the workers would wait for an oracle that never answers)."""
    try:
        infos = socket.getaddrinfo(role.host.strip("[]"), role.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UserError(f"--oracle={role.address}: unknown host {role.host!r} ({error.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as error:
            raise UserError(f"--oracle={role.address}: the chief cannot serve there ({error.strerror}): "
                            f"pick another port or host") from None


def wait_for_chief(oracle, role):
    """Blocks until the chief's oracle answers (keras-tuner's client waits for it to come up);
    before it, a worker touches nothing in the directory, which the chief may still be creating."""
    from keras_tuner.src.distribute import oracle_client

    print(f"worker {role.tuner_id}: waiting for the chief's oracle at {role.address}", flush=True)
    oracle_client.OracleClient(oracle).get_space()


def worker_lock(directory, role):
    from zoo import locks

    return locks.hold(os.path.join(directory, LOCKS_DIR, f"worker-{role.tuner_id}"),
                      f"worker {role.tuner_id} of the search; its lock", "--tuner_id")


def trial_lock(directory, trial_id):
    from zoo import locks

    return locks.hold(os.path.join(directory, LOCKS_DIR, f"trial-{trial_id}"), f"trial {trial_id}; its lock",
                      "--directory")
