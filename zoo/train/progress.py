"""Progress lines (step, steps/s, ETA, losses) for long runs, and duration formatting."""

import sys
import time


def format_duration(seconds):
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def format_losses(losses):
    return " ".join(f"{name}={value:.4f}" for name, value in sorted(losses.items()))


class Progress:
    """Measures throughput between reports and prints one line per report."""

    def __init__(self, start_step, total_steps, stream=None, budget_seconds=0):
        self.total_steps = total_steps
        self.budget_seconds = budget_seconds
        self.stream = stream or sys.stdout
        self.started = time.perf_counter()
        self.start_step = start_step
        self._last_time = self.started
        self._last_step = start_step
        self._first_report = None

    def rate(self, step):
        """Steps per second since the previous report (since the start for the first one)."""
        elapsed = time.perf_counter() - self._last_time
        return (step - self._last_step) / elapsed if elapsed > 0 else 0.0

    def report(self, step, losses, note=""):
        """Prints `step 1600/6000 (27%)  10.15 steps/s  ETA 7m14s  <losses>`; when a wall-clock
        budget ends the run before its last step, `step 700  1m10s/5m00s (23%)  10.04 steps/s
        budget left 3m50s  <losses>` instead (elapsed/budget, not a step count it will not reach)."""
        rate = self.rate(step)
        remaining_steps = (self.total_steps - step) / rate if rate > 0 else float("inf")
        elapsed = self.elapsed()
        budget_left = max(0.0, self.budget_seconds - elapsed) if self.budget_seconds else float("inf")
        if budget_left < remaining_steps:
            percent = 100.0 * min(1.0, elapsed / self.budget_seconds)
            head = (f"step {step}  {format_duration(elapsed)}/{format_duration(self.budget_seconds)} ({percent:.0f}%)  "
                    f"{rate:.2f} steps/s  budget left {format_duration(budget_left)}")
        else:
            eta_text = format_duration(remaining_steps) if remaining_steps != float("inf") else "?"
            percent = 100.0 * step / self.total_steps
            head = f"step {step}/{self.total_steps} ({percent:.0f}%)  {rate:.2f} steps/s  ETA {eta_text}"
        print(head + f"  {format_losses(losses)}" + (f"  {note}" if note else ""), file=self.stream, flush=True)
        self._last_time, self._last_step = time.perf_counter(), step
        if self._first_report is None:
            self._first_report = (self._last_time, step)
        return rate

    def steady_rate(self, step):
        """Steps per second after the first report: excludes tracing, compilation and warm-up."""
        if self._first_report is None or step <= self._first_report[1]:
            return 0.0
        first_time, first_step = self._first_report
        return (step - first_step) / (time.perf_counter() - first_time)

    def elapsed(self):
        return time.perf_counter() - self.started
