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

When --max_consecutive_failures trials in a row fail, the chief's oracle stops the search
(`stopping_oracle`): each worker is told so when it asks for its next trial and ends with one
line, and the chief, once the last has been told, writes the table and ends with one line too.
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


# A STOPPED trial's value naming why the chief stopped the search (keras-tuner's Trial proto carries
# hyperparameter values to the workers but no message; its own "tuner/..." values travel the same way).
STOPPED_BY = "tuner/stopped_by"


def stopping_oracle(base, chief, reason):
    """`base` (a keras-tuner Oracle class) whose consecutive-failure limit stops the search the
    way this process can: a local search's oracle raises keras-tuner's RuntimeError as keras-tuner
    does; a chief's records the stop instead, since keras-tuner would raise it inside the gRPC
    handler of the worker's EndTrial, before that trial is saved ended or stops counting as running
    (and its `synchronized` lock is never released), so the chief would wait for the worker forever.

    The chief's oracle ends that trial as any other (saved FAILED), keeps the reason in
    `stopped_by_failures` ("N trials in a row failed (last: ...)", with `reason(trial)` the failed
    trial's one line) and from then on answers every CreateTrial with a STOPPED trial carrying it
    (value STOPPED_BY), except for a worker that still holds a running trial (a restarted one
    redoes it): each worker ends its search after its current trial, and once the last one has
    been told, keras-tuner's server stops and the chief's search returns. The stop is not saved:
    a rerun hands out trials again.

    Either way the limit is on the trials that ended last (keras-tuner's `end_order`), all FAILED:
    the failures in a row are counted across reruns, so a rerun of a stopped search stops again
    when its first trial to end fails too, and a completed trial restarts the count. (keras-tuner
    stops whenever end_order holds that many failures in a row anywhere: a chief's stopped search,
    saved with all of them, would stop a rerun after its first trial whatever that trial did.)
    """
    import keras_tuner
    from keras_tuner.src.engine import trial as trial_module

    class StoppingOracle(base):
        stopped_by_failures = None  # A chief's: why it stopped the search (one line), once it has.

        def _check_consecutive_failures(self):
            limit = self.max_consecutive_failed_trials
            if self.stopped_by_failures is not None or not limit or limit < 1:
                return
            ended = [self.trials[trial_id] for trial_id in self.end_order[-limit:]]
            if len(ended) < limit or any(trial.status != trial_module.TrialStatus.FAILED for trial in ended):
                return
            last = ended[-1]
            if not chief:
                raise RuntimeError(f"Number of consecutive failures exceeded the limit of {limit}.\n"
                                   + (last.message or ""))
            self.stopped_by_failures = f"{limit} trials in a row failed (last: {reason(last)})"
            print(f"chief: search stopped: {self.stopped_by_failures}; telling the workers once their trials end",
                  flush=True)

        @keras_tuner.synchronized
        def create_trial(self, tuner_id):
            if self.stopped_by_failures is None or tuner_id in self.ongoing_trials:
                return super().create_trial(tuner_id)
            self.tuner_ids.discard(tuner_id)  # As keras-tuner's own STOPPED answer: the worker is done.
            hyperparameters = self.hyperparameters.copy()
            hyperparameters.values = {STOPPED_BY: self.stopped_by_failures}
            return trial_module.Trial(hyperparameters=hyperparameters, status=trial_module.TrialStatus.STOPPED)

    StoppingOracle.__name__ = StoppingOracle.__qualname__ = f"Stopping{base.__name__}"
    return StoppingOracle


def worker_client(oracle):
    """keras-tuner's client of the chief's oracle (what a worker's tuner calls) that keeps, in
    `stopped_by`, why the chief stopped the search when its STOPPED trial says (None when the
    search ended because no trial was left)."""
    from keras_tuner.src.distribute import oracle_client
    from keras_tuner.src.engine import trial as trial_module

    class WorkerClient(oracle_client.OracleClient):
        stopped_by = None

        def create_trial(self, tuner_id):
            trial = super().create_trial(tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                self.stopped_by = trial.hyperparameters.values.get(STOPPED_BY)
            return trial

    return WorkerClient(oracle)
