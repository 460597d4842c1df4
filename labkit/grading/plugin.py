"""pytest plugin that turns the graders into a grading run: harvest, judge, score table.

A grader module declares its lab as ``LAB = Lab(...)`` and marks each check with
``pytest.mark.check(CATEGORY, points=N)``. The plugin harvests each declared lab's module
in a sandboxed child process, hands the result to the checks as the ``harvest``
fixture, and prints a score table (and optionally a Gradescope results file).

Usage: ``pytest graders --submission exercises --lab my_lab --results results.json``
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from labkit.grading import architecturecache, cache, harvestcache
from labkit.intake import submission
from labkit.judge import architecture
from labkit.judge.architecture import Architecture
from labkit.report import artifacts, checkresults, scoretable
from labkit.report.checkresults import CheckResult
from labkit.sandbox import isolation, runner, screen, trainer
from labkit.sandbox.training import TrainingResult
from labkit.spec.course import Course, check_of
from labkit.spec.failures import CheckFailed, GraderFault
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits, SettingError, add_options
from labkit.spec.text import clean_message

session_key = pytest.StashKey["GradingSession"]()
# The longest check message kept: a real one, the layers expected and found, is under 1,000.
MAX_CHECK_MESSAGE = 4000
MAX_CAUSE = 200  # a cause's short name: a real one is under 80 characters
note_key = pytest.StashKey[str]()
# A file every grading run appends a line per cache lookup to (``lookup_line``): for a
# harness such as the bench that counts hits across runs and batch workers.
CACHE_LOG_ENV = "LABKIT_CACHE_LOG"
HIT, MISS = "hit", "miss"


class SharedServer:
    """A plugin object that lends a running fork server to grading runs, one after another.

    Batch workers pass one to ``pytest.main(..., plugins=[SharedServer(server)])``, so that
    TensorFlow is imported once per worker, not once per submission.
    """

    def __init__(self, server: isolation.Server) -> None:
        self.server = server


class GradingSession:
    """One grading run: where the submission is, its harvests, and the results so far."""

    def __init__(
        self,
        path: Path | None,
        limits: Limits,
        isolation_mode: str = "auto",
        shared: isolation.Server | None = None,
        artifacts: Path | None = None,
        training_cache: cache.Cache | None = None,
        harvest_cache: harvestcache.HarvestCache | None = None,
        architecture_cache: architecturecache.ArchitectureCache | None = None,
    ) -> None:
        self.given = path
        self.shared = shared
        self.artifacts = artifacts
        self.cache = training_cache
        self.harvest_cache = harvest_cache
        self.architecture_cache = architecture_cache
        self.ran: list[str] = []  # labs whose harvest ran the submission's code
        self.lookups: list[tuple[str, bool, str]] = []  # (cache, hit, lab) per cache lookup
        self.labs: dict[str, Lab] = {}  # every lab the collected graders declare
        self.course: Path | None = None  # the folder holding the graders' folder
        self.limits = limits
        self.isolation_mode = isolation_mode
        self.results: list[CheckResult] = []
        self.started = time.monotonic()
        self._workdir: Path | None = None
        self._server: isolation.Server | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._harvests: dict[str, Future[runner.Harvest]] = {}
        self._shown: dict[str, set[str]] = {}

    @property
    def path(self) -> Path:
        """The submission: the path given, else the course's exercises/ folder."""
        if self.given is not None:
            return self.given
        return (self.course or Path.cwd()) / "exercises"

    def start(self, lab_names: Iterable[str]) -> None:
        """Start harvesting ``lab_names`` in the background, all from one warm fork server."""
        modules = submission.locate(self.path, list(self.labs))
        self.open()
        if self._pool is None:
            # Threads only wait on children; forked children are cheap, so all labs start at once.
            self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.labs)))
        assert self._server is not None
        for name in lab_names:
            if name not in self._harvests and name not in self.unavailable():
                lab = self.labs[name]
                self._harvests[name] = self._pool.submit(self._harvest, lab, modules[name])
        self._server.preload([self.labs[name].dataset for name in lab_names])

    def unavailable(self) -> dict[str, str]:
        """The labs whose dataset the grader could not load, with why."""
        missing = self._server.unavailable if self._server is not None else {}
        return {
            name: missing[lab.dataset.name]
            for name, lab in self.labs.items()
            if lab.dataset.name in missing
        }

    def _harvest(self, lab: Lab, module: Path | None) -> runner.Harvest:
        assert self._workdir is not None and self._server is not None
        pictures = self.artifacts is not None
        result, key = None, None
        if self.harvest_cache is not None and module is not None:
            prepared = runner.prepare(lab, module, self._workdir)
            key = harvestcache.harvest_key(
                lab, module, self.limits, self._server, pictures, prepared.inputs
            )
            result = self.harvest_cache.get(key, prepared) if key else None
            self.lookups.append(("harvest", result is not None, lab.name))
        if result is None:
            result = runner.run(lab, module, self._workdir, self.limits, self._server, pictures)
            if key and self.harvest_cache is not None and harvestcache.cacheable(result):
                with contextlib.suppress(OSError):  # a cache it cannot write costs only reuse
                    self.harvest_cache.put(key, result)
        if result.ran:
            self.ran.append(lab.name)
        if module is not None and self.path.is_dir() and module.parent != self.path:
            result.shown = submission.shown(module, self.path)  # which file was graded
        if self.artifacts is not None:
            artifacts.save_pictures(self.artifacts / lab.name, lab, result.folder)
        return result

    def found(self, kind: str) -> list[str]:
        """The labs whose lookup in the ``kind`` cache ("harvest", "training", "architecture")
        had an entry."""
        return sorted(lab for cache_kind, hit, lab in self.lookups if cache_kind == kind and hit)

    def open(self) -> None:
        """Start the fork server that harvest children come from, if it is not running yet."""
        if self._server is None and self.shared is not None:
            self._server = self.shared
            self._workdir = Path(tempfile.mkdtemp(prefix="run-", dir=self.shared.workdir))
        if self._server is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            self._workdir = Path(tempfile.mkdtemp(prefix="labkit-"))
            data = [lab.dataset for lab in self.labs.values()]
            self._server = runner.start_server(self._workdir, self.isolation_mode, data)
            # Started now, its import of TensorFlow overlaps the grader's own. A batch
            # worker's shared server starts only when a submission's code must run.
            self._server.warm()

    def once(self, lab_name: str, failure: CheckFailed) -> str:
        """The failure's message the first time its causes show up in a lab, then one line."""
        shown = self._shown.setdefault(lab_name, set())
        if all(cause.message in shown for cause in failure.causes):
            return checkresults.BLOCKED + "; ".join(cause.short for cause in failure.causes)
        shown.update(cause.message for cause in failure.causes)
        return str(failure)

    def train(self, lab: Lab, compiled: Path) -> TrainingResult:
        """The grader's own training run of a harvested model, in a child with limits, or
        the same run's result from the cache."""
        self.open()
        assert self._workdir is not None, "harvests start before anything is trained"
        key = cache.training_key(compiled, lab) if self.cache is not None else ""
        result = self.cache.get(key) if self.cache is not None else None
        if self.cache is not None:
            self.lookups.append(("training", result is not None, lab.name))
        if result is None:
            grader = trainer.Trainer(self._server, self.limits)
            result = grader.train(compiled, lab, self._workdir / f"{lab.name}.training")
            if self.cache is not None and cache.cacheable(result):
                self.cache.put(key, result)
        if self.artifacts is not None:
            artifacts.save_training(self.artifacts / lab.name, result)
        return result

    def architecture(self, lab: Lab, model_file: Path) -> Architecture:
        """What the architecture checks read of a screened model file: from the cache, or
        from the model built with Keras, its weights left out."""
        key = ""
        if self.architecture_cache is not None:
            with contextlib.suppress(OSError, ValueError, zipfile.BadZipFile):
                key = architecturecache.architecture_key(model_file)
        found = self.architecture_cache.get(key) if self.architecture_cache and key else None
        if key:
            self.lookups.append(("architecture", found is not None, lab.name))
        if found is None:
            found = architecture.read(screen.load(model_file, weights=False))
            if self.architecture_cache is not None and key:
                with contextlib.suppress(OSError):  # a cache it cannot write costs only reuse
                    self.architecture_cache.put(key, found)
        return found

    def harvest(self, lab_name: str) -> runner.Harvest:
        self.start([lab_name])
        problem = self.unavailable().get(lab_name)
        if problem is not None:
            raise GraderFault(f"The grader could not load this lab's dataset. {problem}")
        return self._harvests[lab_name].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._server is not None and self._server is not self.shared:
            self._server.close()  # every child is gone before its folders are removed
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labkit", "labkit grading")
    group.addoption(
        "--submission",
        metavar="PATH",
        help="folder of lab modules, or one lab module file, to grade (default: exercises/)",
    )
    group.addoption(
        "--lab",
        action="append",
        default=[],
        metavar="NAME",
        help="grade only this lab (repeatable)",
    )
    group.addoption("--results", metavar="FILE", help="write Gradescope-format results JSON here")
    group.addoption(
        "--artifacts",
        metavar="DIR",
        help="keep, per lab, the grader's training run and the figures drawn, for feedback",
    )
    try:
        add_options(group.addoption)
    except SettingError as error:
        raise pytest.UsageError(str(error)) from None
    group.addoption(
        "--grading-cache",
        metavar="DIR",
        help="reuse the harvests and the grader's training runs kept in DIR, or 'off' "
        f"(default: ${cache.CACHE_ENV}, else the user's cache folder)",
    )
    group.addoption(
        "--cache-log",
        metavar="FILE",
        help="write to FILE, as JSON, the labs whose training run and whose harvest came "
        "from the cache, and those whose harvest ran the submission's code",
    )
    group.addoption(
        "--isolation",
        choices=isolation.MODES,
        default="auto",
        help="sandbox each lab's process: 'auto' where the platform allows (bubblewrap, else "
        "an unprivileged user where the grader is root), 'required' to refuse to grade without "
        "either, 'user' for the unprivileged user, 'off' (default: %(default)s)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "check(category, points, hidden=False): a grading check, its category and points; a "
        "hidden one is left out of the student release and shown after grades are published",
    )
    mode = config.getoption("isolation")
    if isolation.refusal(mode):
        raise pytest.UsageError(isolation.refusal(mode))
    path = config.getoption("submission")
    shared = next(
        (p.server for p in config.pluginmanager.get_plugins() if isinstance(p, SharedServer)), None
    )
    kept = config.getoption("artifacts")
    training_cache = cache.Cache.from_setting(
        config.getoption("grading_cache") or os.environ.get(cache.CACHE_ENV)
    )
    config.stash[session_key] = GradingSession(
        Path(path) if path else None,
        Limits.from_options(config.getoption),
        mode,
        shared,
        Path(kept) if kept else None,
        training_cache,
        harvestcache.HarvestCache(training_cache.folder) if training_cache else None,
        architecturecache.ArchitectureCache(training_cache.folder) if training_cache else None,
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    grading = config.stash.get(session_key, None)
    if grading is not None:
        grading.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    grading = config.stash[session_key]
    for item in items:
        lab = _declared(getattr(item, "module", None))
        if lab is not None:
            grading.labs.setdefault(lab.name, lab)
            grading.course = grading.course or Path(str(item.path)).parent.parent
    unknown = [name for name in config.getoption("lab") if name not in grading.labs]
    if unknown:
        raise pytest.UsageError(
            f"unknown lab {', '.join(unknown)}: choose from {', '.join(grading.labs)}"
        )
    chosen = _chosen_labs(config)
    if not chosen:
        return
    keep, drop = [], []
    for item in items:
        name = _lab_of(item)
        (drop if name is not None and name not in chosen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _chosen_labs(config: pytest.Config) -> set[str]:
    """The labs to grade: those named with --lab, or the one lab a single file is for."""
    chosen = set(config.getoption("lab"))
    grading = config.stash[session_key]
    path = grading.path
    if not path.is_file():
        return chosen
    try:
        lab_name = submission.lab_of(path, list(grading.labs))
    except submission.SubmissionError as error:
        raise pytest.UsageError(str(error)) from None
    if chosen and lab_name not in chosen:
        raise pytest.UsageError(
            f"{path.name} is for {lab_name}, not {', '.join(sorted(chosen))}: "
            "drop --lab, or pass the folder that holds the other labs"
        )
    return {lab_name}


def pytest_collection_finish(session: pytest.Session) -> None:
    lab_names = list(dict.fromkeys(filter(None, map(_lab_of, session.items))))
    if not lab_names:
        return
    from labkit.sandbox import training

    grading = session.config.stash[session_key]
    # A run of its own imports TensorFlow now, while its fork server does the same; a batch
    # worker's run, only when a model must be built (``labkit.batch.worker``). A dataset that
    # cannot be loaded costs only its own labs, as "could not grade" (``unavailable``).
    grading.open()
    if grading.shared is None:
        training.make_deterministic()
    try:
        grading.start(lab_names)
    except submission.SubmissionError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Lab:
    """The lab that the requesting grader module declares."""
    declared = _declared(request.module)
    if declared is None:
        raise pytest.UsageError(f"{request.node.nodeid} needs LAB = Lab(...) in its module")
    return declared


@pytest.fixture(scope="module")
def harvest(request: pytest.FixtureRequest, lab: Lab) -> runner.Harvest:
    """What the submission's module produced for this lab, harvested in a child process."""
    return request.config.stash[session_key].harvest(lab.name)


@pytest.fixture(scope="module")
def train(request: pytest.FixtureRequest, lab: Lab) -> Callable[[Path], TrainingResult]:
    """Train a fresh copy of a harvested model the grader's way, in a child with limits."""
    grading = request.config.stash[session_key]
    return lambda compiled: grading.train(lab, compiled)


@pytest.fixture(scope="module")
def read_architecture(request: pytest.FixtureRequest, lab: Lab) -> Callable[[Path], Architecture]:
    """Read what the architecture checks see of a harvested model file: its layers, input
    shape and parameter count."""
    grading = request.config.stash[session_key]
    return lambda model_file: grading.architecture(lab, model_file)


@pytest.fixture
def note(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Attach a short message to a passing check, such as the accuracy it measured."""

    def attach(text: str) -> None:
        request.node.stash[note_key] = text

    return attach


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report_ = yield
    marker = item.get_closest_marker("check")
    lab = _declared(getattr(item, "module", None))
    if marker is None or lab is None:
        return report_
    lab_name = lab.name
    if report_.when == "call" or (report_.when == "setup" and not report_.passed):
        error = call.excinfo.value if call.excinfo else None
        ungraded = error is not None and not isinstance(error, CheckFailed)
        causes: tuple[str, ...] = ()
        if isinstance(error, CheckFailed):
            message = item.config.stash[session_key].once(lab_name, error)
            causes = tuple(clean_message(cause.short, MAX_CAUSE) for cause in error.causes)
        elif ungraded:
            message = f"{checkresults.COULD_NOT_GRADE}: {_grader_fault(error)}"
        else:
            message = item.stash.get(note_key, "")
        # The one place every check's text passes: whatever student code, Keras or pytest
        # put in it, every reader (the table, the results file, JUnit, Markdown, HTML and
        # pytest's own report) gets it cleaned of escapes and control characters.
        message = clean_message(message, MAX_CHECK_MESSAGE)
        if error is not None:
            report_.longrepr = f"{lab_name}: {message}"
        check = check_of(lab, item.name, getattr(item, "obj", None), marker)
        item.config.stash[session_key].results.append(
            CheckResult(
                lab=lab_name,
                category=check.category,
                description=clean_message(check.description, MAX_CHECK_MESSAGE),
                max_points=check.points,
                passed=report_.passed,
                message=message,
                hidden=check.hidden,
                ungraded=ungraded,
                causes=causes,
            )
        )
    return report_


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    grading = config.stash[session_key]
    if not grading.results:
        return
    terminalreporter.write_sep("=", "labkit scores")
    if isolation.notice(config.getoption("isolation")):
        terminalreporter.write_line(isolation.notice(config.getoption("isolation")))
    titles = {name: lab.title for name, lab in grading.labs.items()}
    hidden = Course(grading.course).hidden_points if grading.course else {}
    terminalreporter.write_line(scoretable.table(grading.results, titles, hidden))
    results_file = config.getoption("results")
    if results_file:
        seconds = time.monotonic() - grading.started
        checkresults.write_results(Path(results_file), grading.results, seconds)
        terminalreporter.write_line(f"results written to {results_file}")
    for line in reused_lines(grading.found("harvest"), grading.found("training")):
        terminalreporter.write_line(line)
    log = config.getoption("cache_log")
    if log:
        taken = CacheLog(grading.found("training"), grading.found("harvest"), sorted(grading.ran))
        Path(log).write_text(json.dumps(dataclasses.asdict(taken)), encoding="utf-8")
    lookups = os.environ.get(CACHE_LOG_ENV)
    if lookups:
        # One short write in append mode: concurrent batch workers' lines do not interleave.
        with open(lookups, "a", encoding="utf-8") as file:
            file.write("".join(f"{lookup_line(*lookup)}\n" for lookup in grading.lookups))


def lookup_line(kind: str, hit: bool, lab: str) -> str:
    """A line of ``$LABKIT_CACHE_LOG``: which cache, whether it had the entry, for which lab."""
    return f"{kind} {HIT if hit else MISS} {lab}"


@dataclasses.dataclass(frozen=True)
class CacheLog:
    """What a grading run took from the cache, by lab, as ``--cache-log`` writes it."""

    training: list[str]  # the grader's training run came from the cache
    harvests: list[str]  # the harvest came from the cache: the code did not run
    ran: list[str]  # the harvest ran the submission's code

    @classmethod
    def read(cls, path: Path) -> CacheLog:
        """The log a run wrote to ``path``; empty when it wrote none."""
        if not path.is_file():
            return cls([], [], [])
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    @property
    def rejudged(self) -> bool:
        """Whether the run judged only kept harvests: no lab ran the submission's code."""
        return bool(self.harvests) and not self.ran


def reused_lines(harvests: list[str], training: list[str]) -> list[str]:
    """The quiet lines that say which labs' harvests and training runs came from the cache."""
    lines = []
    if harvests:
        labs = ", ".join(sorted(harvests))
        lines.append(f"reused the earlier run of the submission's code for {labs}")
    if training:
        lines.append(f"reused the grader's earlier training run for {', '.join(sorted(training))}")
    return lines


def _grader_fault(error: BaseException) -> str:
    """What a check that could not be judged says: the grader's problem, never the student's."""
    if isinstance(error, GraderFault):
        return str(error)
    return (
        f"the grader's check stopped with {type(error).__name__}: {error}. This is a fault in "
        "the grader, not in your code."
    )


def _declared(module: Any) -> Lab | None:
    """The lab a grader module declares, if it declares one."""
    lab = getattr(module, "LAB", None)
    return lab if isinstance(lab, Lab) else None


def _lab_of(item: pytest.Item) -> str | None:
    lab = _declared(getattr(item, "module", None))
    return lab.name if lab is not None else None
