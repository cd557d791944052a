"""The served versions of the model: found on disk, chosen by the version policy, loaded, checked
and warmed off the event loop, swapped in atomically, and retired once their requests are done.

Everything here but the load itself runs on the event loop, so `served` changes between two
requests, never during one: a request leases its version at the start and finishes on it.
"""

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from app.inference.batching import BatchingEngine
from app.inference.classifier import Classifier
from app.inference.control import Control, ControlFile
from app.inference.layout import (
    SYSTEM_CLOCK,
    Clock,
    Fingerprint,
    Found,
    RepositoryUnreadable,
    Settling,
    Source,
)
from app.inference.model_file import ModelInfo, ModelLoadError
from app.inference.plan import IndexEntry, Plan
from app.inference.policy import VersionPolicy
from app.inference.served import LoadFailed, Served, VersionNotFound, check_outputs

logger = logging.getLogger(__name__)

# Blocking: load and warm the model of a version (milliseconds: its LiteRT file).
Loader = Callable[[Found], Classifier]
T = TypeVar("T")
EngineFactory = Callable[[Classifier], BatchingEngine]


class Observer(Protocol):
    def version_loaded(self, info: ModelInfo, seconds: float) -> None: ...
    def version_load_failed(self, version: int) -> None: ...
    def version_unloaded(self, info: ModelInfo) -> None: ...


class Repository:
    """The versions found by `source`, served per `policy` and the load/unload requests."""

    def __init__(
        self,
        source: Source,
        policy: VersionPolicy,
        control: ControlFile,
        load: Loader,
        make_engine: EngineFactory,
        *,
        pinned_default: int | None = None,
        poll_interval_s: float = 2.0,
        observer: Observer | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.source, self.policy, self.control = source, policy, control
        self.pinned_default = pinned_default
        self.poll_interval_s = poll_interval_s
        self._load, self._make_engine, self._observer = load, make_engine, observer
        self._served: dict[int, Served] = {}
        self._default: Served | None = None
        self._found: dict[int, Found] = {}
        self._settling = Settling(clock)
        self._stable: set[int] = set()
        self._failed: dict[int, tuple[Fingerprint | None, str]] = {}
        self._loading: set[int] = set()
        self._control = Control()
        self._started = False
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(1, "model-loader")
        # Scans and the control file, off the event loop in one thread of their own (asyncio's
        # default executor would add threads when a call follows another too closely).
        self._files = ThreadPoolExecutor(1, "model-repository-files")

    # -- serving ------------------------------------------------------------------------------
    @property
    def versions(self) -> list[int]:
        return sorted(self._served)

    @property
    def default(self) -> Served | None:
        return self._default

    def get(self, version: int | None = None) -> Served:
        """The served version (the default for None); VersionNotFound naming the others."""
        served = self._default if version is None else self._served.get(version)
        if served is None:
            raise VersionNotFound(version, self.versions)
        return served

    @contextlib.contextmanager
    def lease(self, version: int | None = None) -> Iterator[Served]:
        """Hold a version for one request: it is not stopped before the request is done."""
        served = self.get(version)
        served.leases += 1
        try:
            yield served
        finally:
            served.leases -= 1

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Load what the policy selects; ModelLoadError if not one version could be served."""
        try:
            await self.reconcile(trust_files=True)
        except RepositoryUnreadable as exc:
            raise ModelLoadError(str(exc)) from None
        self._started = True
        if not self._served:  # one error, the reasons in one line: the caller logs it
            reasons = "; ".join(reason for _, reason in self._failed.values())
            raise ModelLoadError(reasons or f"no model versions in {self.source.describe()}")
        for version, (_, reason) in self._failed.items():
            logger.warning("model version %d not loaded: %s", version, reason)
        self._poller = asyncio.create_task(self._poll(), name="model-repository-poller")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        async with self._lock:
            for version in list(self._served):
                self._retire(version)
        await self.retired()
        await asyncio.to_thread(self._executor.shutdown)
        self._files.shutdown(wait=False)

    async def retired(self) -> None:
        """Wait until the engine of every version retired so far has stopped (each stops once
        its last lease ends)."""
        await asyncio.gather(*self._retiring)

    async def _on_files(self, call: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._files, call, *args)

    async def _poll(self) -> None:
        unreadable, wait = "", self.poll_interval_s
        while True:
            await asyncio.sleep(wait)
            wait = self.poll_interval_s
            try:
                settles_in = await self.reconcile()
                if settles_in is not None:  # a version still being written: look again then
                    wait = min(wait, settles_in)
                unreadable = ""
            except RepositoryUnreadable as exc:  # once per new reason, not every pass
                if str(exc) != unreadable:
                    logger.warning("model repository not scanned, serving on: %s", exc)
                unreadable = str(exc)
            except Exception:  # the poller must outlive any one bad pass
                logger.exception("model repository poll failed")

    # -- reconciling what is served with what is on disk and requested ------------------------
    async def reconcile(self, trust_files: bool = False) -> float | None:
        """One pass: scan, load what should be served (newest first), then retire the rest;
        return in how many seconds the files of a version not yet complete will count as such.

        `trust_files`: take every file as complete (at start, and on an explicit load request);
        otherwise app.inference.layout.Settling decides when a version's files are.
        """
        async with self._lock:
            found = await self._on_files(self.source.scan)
            control = await self._on_files(self.control.read)
            self._forget_failures(control)
            self._found, self._control = found, control
            self._stable, settles_in = self._settling.complete(found, trust_files)
            while todo := self._plan().to_load():
                await self._load_version(max(todo))  # newest first; a failure changes the plan
            for version in set(self._served) - self._plan().target():
                self._retire(version)
            self._choose_default()
            return settles_in

    def _forget_failures(self, control: Control) -> None:
        """A load request was made (here or in another worker): try its versions again."""
        for version, count in control.retries.items():
            if count != self._control.retries.get(version, 0):
                if version == 0:
                    self._failed.clear()
                else:
                    self._failed.pop(version, None)

    def _plan(self) -> Plan:
        served = {version: item.fingerprint for version, item in self._served.items()}
        return Plan(
            self.policy,
            self.pinned_default,
            self._found,
            frozenset(self._stable),
            dict(self._failed),
            served,
            self._control,
        )

    async def _load_version(self, version: int) -> None:
        found = self._found[version]
        self._loading.add(version)
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            classifier = await loop.run_in_executor(self._executor, self._load_blocking, found)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ModelLoadError) else f"{type(exc).__name__}: {exc}"
            self._failed[version] = (found.fingerprint, reason)
            if self._started:  # at start, start() reports it
                logger.warning("model version %d not loaded: %s", version, reason)
            if self._observer is not None:
                self._observer.version_load_failed(version)
            return
        finally:
            self._loading.discard(version)
        classifier.info = dataclasses.replace(classifier.info, version=str(version))
        engine = self._make_engine(classifier)
        engine.start()
        replaced = self._served.get(version)
        self._served = {
            **self._served,
            version: Served(version, classifier, engine, found.fingerprint),
        }
        if replaced is not None:
            self._drain_later(replaced)
        self._failed.pop(version, None)
        seconds = time.perf_counter() - started
        if self._observer is not None:
            self._observer.version_loaded(classifier.info, seconds)
        logger.info(
            "model version %d %s in %.2f s from %s",
            version,
            "reloaded" if replaced else "loaded",
            seconds,
            found.path,
        )
        self._choose_default()

    def _load_blocking(self, found: Found) -> Classifier:
        """In the loader thread: load, warm and check the probe's answers."""
        classifier = self._load(found)
        check_outputs(classifier)
        return classifier

    def _retire(self, version: int) -> None:
        """Stop serving `version` now; stop its engine once its last request is done."""
        served = self._served[version]
        self._served = {v: s for v, s in self._served.items() if v != version}
        self._choose_default()
        self._drain_later(served)

    def _drain_later(self, served: Served) -> None:
        task = asyncio.create_task(self._drain(served), name=f"retire-version-{served.version}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _drain(self, served: Served) -> None:
        while served.leases:
            await asyncio.sleep(0.01)
        await served.engine.stop()
        if self._observer is not None:
            self._observer.version_unloaded(served.info)
        logger.info("model version %d unloaded", served.version)

    def _choose_default(self) -> None:
        pinned = self._served.get(self.pinned_default or 0)
        newest = self._served[max(self._served)] if self._served else None
        if self.pinned_default and not pinned and newest and self._default is not newest:
            logger.warning(  # once per change of the default, not once per pass
                "pinned default version %d is not served; the default is version %d",
                self.pinned_default,
                newest.version,
            )
        self._default = pinned or newest

    # -- the repository API -------------------------------------------------------------------
    def index(self) -> list[IndexEntry]:
        """Every version found or served, newest first, with its state and why."""
        plan = self._plan()
        versions = sorted(set(self._found) | set(self._served), reverse=True)
        return [plan.entry(version, version in self._loading) for version in versions]

    async def request_load(self, version: int | None) -> None:
        """Serve `version` besides the policy's (None: re-read the repository, retry failures,
        undo unloads), at once in this worker; LoadFailed with the reason if it is not served."""
        found = await self._on_files(self.source.scan)
        if version is not None and version not in found:
            raise VersionNotFound(version, sorted(found))

        def edit(control: Control) -> None:
            control.retry(version)
            if version is None:
                control.unloaded.clear()
            else:
                control.unloaded.discard(version)
                control.loaded.add(version)

        await self._on_files(self.control.change, edit)
        await self.reconcile(trust_files=True)
        if version is not None and version not in self._served:
            reason = self._plan().entry(version).reason
            raise LoadFailed(f"version {version} not loaded: {reason}")
        if version is None and not self._served:
            raise LoadFailed("; ".join(entry.reason for entry in self.index()))

    async def request_unload(self, version: int | None) -> None:
        """Stop serving `version` (None: every version) until a load request; in this worker at
        once, the others at their next poll. Its requests in flight finish first."""
        found = await self._on_files(self.source.scan)
        known = set(found) | set(self._served)
        if version is not None and version not in known:
            raise VersionNotFound(version, sorted(known))

        def edit(control: Control) -> None:
            if version is None:
                control.loaded.clear()
                control.unloaded |= known
            else:
                control.loaded.discard(version)
                control.unloaded.add(version)

        await self._on_files(self.control.change, edit)
        await self.reconcile()
