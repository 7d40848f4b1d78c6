"""The release pipeline: for each image, skip or build, test, push, attest, mark and record; then release.json and
TAGS.md. One image's failure is recorded and does not stop the others."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from ..build.build import build
from ..build.options import BuildOptions
from ..core.choices import GpuMode
from ..core.errors import ImgbuildError, PublishError, writing
from ..core.output import Reporter
from ..core.reference import ImageRef
from ..core.variant import Variant
from ..engine.daemon import Engine
from ..host.preflight import before_release
from ..lock.lockfile import lock_command, lock_problem
from ..publish.push import push_image
from ..registry.target import RegistryTarget
from ..smoke.report import write_junit
from ..smoke.run import smoke_test
from . import skip
from .indexes import WAITING, IndexEntry, join_builds
from .manifest import ReleaseEntry, not_locked_entry, release_entry, release_files, write_release


@dataclass(frozen=True)
class ReleasePlan:
    """What one `imgbuild release` does, resolved from the command line."""

    variants: tuple[Variant, ...]  # each variant's own image before its team images
    target: RegistryTarget
    options: BuildOptions
    gpu: GpuMode
    out: Path  # release.json, TAGS.md, build logs, JUnit files
    rebuild: bool = False
    max_age: int = 7


@dataclass(frozen=True)
class ReleaseOutcome:
    entries: tuple[ReleaseEntry, ...]
    manifest: Path
    catalog: Path
    lock_commands: tuple[str, ...] = ()  # what locks each variant that had no current lock
    indexes: tuple[IndexEntry, ...] = ()  # the multi-platform tags joined (or refused) in this run

    @property
    def failed(self) -> int:
        """Images not published tonight: failed or not locked."""
        return sum(e.status != "ok" for e in self.entries)

    @property
    def failed_indexes(self) -> list[IndexEntry]:
        return [i for i in self.indexes if i.status != "ok"]

    def check(self) -> None:
        """The failure policy of a release, once every image was tried: variants without a lock name the command
        that locks them; a failed image, or a build left without its multi-platform tags, fails the run."""
        not_locked = sum(e.outcome == "not locked" for e in self.entries)
        if not_locked:
            others = self.failed - not_locked
            raise PublishError(f"{not_locked} of {len(self.entries)} variants have no current lock, so nothing was "
                               f"built for them: run `{self.lock_commands[0]}`"
                               + (f" (and {len(self.lock_commands) - 1} more: see {self.manifest})"
                                  if len(self.lock_commands) > 1 else "")
                               + ", review and commit the locks" + (f"; {others} failed besides" if others else ""))
        if self.failed:
            raise PublishError(f"{self.failed} of {len(self.entries)} variants failed: see the table above and "
                               f"{self.manifest}")
        if self.failed_indexes:
            first = self.failed_indexes[0]
            raise PublishError(f"every image was published, but {len(self.failed_indexes)} multi-platform tag set(s) "
                               f"were not written: {first.variant}: {first.error}")

    @property
    def pinned(self) -> list[ImageRef]:
        """What a team pins, pushed or retagged tonight: the dated tag at its digest, every platform's first."""
        return [replace(ImageRef.parse(f"{e.repository}:{e.dated_tag}"), digest=e.digest)
                for e in (*(i for i in self.indexes if i.status == "ok"), *(e for e in self.entries if e.published))
                if e.dated_tag and e.digest]


def release(plan: ReleasePlan, engine: Engine, reporter: Reporter) -> ReleaseOutcome:
    """Check in seconds what can fail (registry, disk, base images) before anything is built, then release every
    image of the plan (its build options were checked when the command line was read)."""
    release_files(plan.out)  # a user's release.json or TAGS.md there: refused now, not after the builds
    # A variant without a lock committed before the run is recorded, never resolved here (nothing unreviewed
    # is published); the checks below concern only what will be built.
    unlocked = {v.id: problem for v in plan.variants if (problem := lock_problem(v))}
    buildable = [v for v in plan.variants if v.id not in unlocked]
    if buildable:
        for line in before_release(engine, plan.target, buildable):
            reporter.info(line)
    with writing(plan.out):
        plan.out.mkdir(parents=True, exist_ok=True)
    entries = tuple(not_locked_entry(v, plan.target.ref, unlocked[v.id]) if v.id in unlocked
                    else release_one(v, plan, engine, reporter) for v in plan.variants)
    # A build whose every platform's image is now published gets its plain tags; where another platform's is not
    # (its run comes later, on its own runner), that run or `imgbuild join` writes them.
    published = {(e.image, e.variant) for e in entries if e.published}
    indexes = tuple(i for i in join_builds([v for v in plan.variants if (v.image, v.id) in published], plan.target,
                                           plan.options.date, reporter) if i.status != WAITING)
    manifest, catalog = write_release(list(entries), plan.out, indexes)
    commands = tuple(dict.fromkeys(lock_command(v) for v in plan.variants if v.id in unlocked))
    return ReleaseOutcome(entries, manifest, catalog, commands, indexes)


def release_one(variant: Variant, plan: ReleasePlan, engine: Engine, reporter: Reporter) -> ReleaseEntry:
    """One image: retag it where its inputs did not change, else build, test and push it; its release.json record."""
    image = report = pushed = error = decision = None
    try:
        decision = skip.check(variant, engine, plan.options, plan.target, max_age=plan.max_age, rebuild=plan.rebuild)
        if decision is not None:
            reporter.info(f"{variant.id}: {decision.reason}")
            if decision.unchanged:  # nothing to build, test or upload: the same manifest under today's tags
                return skip.unchanged_entry(variant, decision, plan.target, plan.options.date)
        image = build(variant, engine, plan.options, reporter)
        if image.log:
            with writing(plan.out / image.log.name):
                shutil.copyfile(image.log, plan.out / image.log.name)
        report = smoke_test(engine, image.ref, plan.gpu, plan.options.work_dir)  # kept for a later `imgbuild push`
        write_junit(report, plan.out / f"{variant.name}.junit.xml")
        if report.passed:  # the report in hand is the gate: no write-then-read inside one run
            pushed = push_image(engine, image, plan.target, report, reporter=reporter)
    except ImgbuildError as exc:
        error = str(exc)
        reporter.info(f"{variant.name}: {error}")
    entry = release_entry(variant, plan.target.ref, image=image, report=report, push=pushed, error=error)
    return skip.after_push(decision, entry) if decision is not None else entry
