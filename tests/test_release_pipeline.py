"""`release()` and `release_one` without a daemon or a registry: every stage they call is an autospec of the real
function, so the test holds the pipeline's own decisions (what is retagged, built, pushed, recorded and joined) for
an unchanged image, a built one, a failed build, a failed smoke test, a team's image and a multi-platform build.
tests/integration/test_nightly_release.py runs the same pipeline on real images and a real registry."""

from __future__ import annotations

import datetime as dt
import json
from unittest.mock import create_autospec

import pytest
from helpers import ROOT
from imgbuild.build.image import Image
from imgbuild.build.options import BuildOptions
from imgbuild.core import tags
from imgbuild.core.choices import GpuMode
from imgbuild.core.errors import BuildError
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.core.variant import Team
from imgbuild.engine.daemon import Engine
from imgbuild.matrix.load import load_matrix
from imgbuild.matrix.select import Selection, select
from imgbuild.matrix.teams import team_variant
from imgbuild.publish.push import PushResult
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.target import RegistryTarget
from imgbuild.release import pipeline, skip
from imgbuild.release.indexes import IndexEntry
from imgbuild.release.manifest import ReleaseEntry
from imgbuild.smoke.report import SmokeCase, SmokeReport

DATE = dt.date(2026, 12, 7)
REGISTRY = RegistryRef("127.0.0.1:5000", "team")


def one(matrix, **kw):
    [v] = select(matrix, Selection(**kw))
    return v


@pytest.fixture(scope="module")
def variants():
    matrix = load_matrix(ROOT / "matrix.yaml")
    built = one(matrix, torch="2.6", cuda="12.4", flavor="runtime", python="3.12")
    amd, arm = select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.12", platform="all"))
    return {"unchanged": one(matrix, torch="2.6", cuda="cpu", python="3.12"), "built": built,
            "broken": one(matrix, torch="2.6", cuda="12.6", flavor="runtime", python="3.12"),
            "failing": one(matrix, torch="2.6", cuda="11.8", flavor="runtime", python="3.12"),
            "team": team_variant(built, Team(name="vision", pip=("einops==0.8.1",), variants=(built.id,))),
            "amd64": amd, "arm64": arm}


def image(v) -> Image:
    refs = tuple(ImageRef(tags.local_repository(v), t) for t in tags.tags(v, DATE))
    return Image(id="sha256:" + f"{abs(hash(v.name)):064x}"[-64:], ref=refs[1], refs=refs, variant=v, seconds=9.0)


def report(v, passed=True) -> SmokeReport:
    return SmokeReport(image=v.name, image_id=image(v).id, variant=v.id, gpu_tier=False,
                       cases=(SmokeCase("inside::check", "passed" if passed else "failed", 0.1),))


def pushed(v) -> PushResult:
    refs = tuple(REGISTRY.image_ref(v.image, t) for t in tags.pushed_tags(v, DATE))
    return PushResult(variant=v.id, refs=refs, digest="sha256:" + "d" * 64, layers_pushed=1, layers_existing=2,
                      bytes_pushed=10, seconds=1.0, labels=tags.variant_labels(v))


@pytest.fixture
def staged(monkeypatch, variants):
    """Each stage the pipeline calls, autospecced from the real one and answering as it would for these images."""
    by_name = {v.name: k for k, v in variants.items()}
    by_ref = {image(v).ref: v for v in variants.values()}

    def decide(v, *args, **kw):
        if not v.kind.retags_unchanged:  # what skip.check answers for an image built FROM another of ours
            return None
        unchanged = by_name[v.name] == "unchanged"
        return skip.Decision(unchanged, "unchanged since 2026-12-01" if unchanged else "inputs changed", "sha256:1", None)

    def build(v, *args):
        if by_name[v.name] == "broken":
            raise BuildError("the apt step failed: see build.log")
        return image(v)

    stages = {"lock_problem": lambda v: None, "before_release": lambda *a: [], "build": build,
              "smoke_test": lambda engine, ref, gpu, work: report(by_ref[ref], by_name[by_ref[ref].name] != "failing"),
              "push_image": lambda engine, img, target, tested, reporter: pushed(img.variant),
              "join_builds": lambda vs, target, date, reporter: [IndexEntry(vs[0].id, "r", "ok", digest="sha256:e")]
              if any(v.multi_platform for v in vs) else []}
    fakes = {name: create_autospec(getattr(pipeline, name), side_effect=effect) for name, effect in stages.items()}
    for name, fake in fakes.items():
        monkeypatch.setattr(pipeline, name, fake)
    fakes["check"] = create_autospec(skip.check, side_effect=decide)
    monkeypatch.setattr(skip, "check", fakes["check"])
    fakes["unchanged_entry"] = create_autospec(skip.unchanged_entry, side_effect=lambda v, d, t, date: ReleaseEntry(
        variant=v.id, image=v.image, repository=f"{t.host}/{t.ref.repository(v.image)}", status="ok",
        tags=tuple(tags.pushed_tags(v, date)), digest="sha256:" + "c" * 64, unchanged_since="2026-12-01"))
    monkeypatch.setattr(skip, "unchanged_entry", fakes["unchanged_entry"])
    return fakes


def test_a_release_retags_builds_records_failures_pushes_team_images_and_joins_platforms(variants, staged, tmp_path):
    target = RegistryTarget(REGISTRY, None, create_autospec(RegistryClient, instance=True), zstd=False)
    plan = pipeline.ReleasePlan(variants=tuple(variants.values()), target=target, options=BuildOptions(date=DATE),
                                gpu=GpuMode.no, out=tmp_path)
    outcome = pipeline.release(plan, create_autospec(Engine, instance=True), create_autospec(pipeline.Reporter))

    status = {e.variant + ("/" + e.image if e.image != "pytorch" else ""): e.status for e in outcome.entries}
    v = variants
    assert status == {v["unchanged"].id: "ok", v["built"].id: "ok", v["broken"].id: "failed",
                      v["failing"].id: "failed", f"{v['built'].id}/vision": "ok", v["amd64"].id: "ok",
                      v["arm64"].id: "ok"}
    entry = {e.image + ":" + e.variant: e for e in outcome.entries}
    assert entry[f"pytorch:{v['broken'].id}"].error == "the apt step failed: see build.log"
    assert "smoke test failed" in entry[f"pytorch:{v['failing'].id}"].error
    assert entry[f"pytorch:{v['unchanged'].id}"].unchanged_since == "2026-12-01"
    # Built and tested images are pushed with their passing report, the team's image too; nothing else is.
    pushed_names = [call.args[1].variant.name for call in staged["push_image"].call_args_list]
    assert sorted(pushed_names) == sorted([v["built"].name, v["team"].name, v["amd64"].name, v["arm64"].name])
    assert all(call.args[3].passed for call in staged["push_image"].call_args_list)
    built_names = [call.args[0].name for call in staged["build"].call_args_list]
    assert v["unchanged"].name not in built_names and v["team"].name in built_names
    # The join gets the published images, both platforms of the multi-platform build, and nothing that failed.
    [join_call] = staged["join_builds"].call_args_list
    joined = {x.name for x in join_call.args[0]}
    assert {v["amd64"].name, v["arm64"].name} <= joined and not joined & {v["broken"].name, v["failing"].name}
    assert [i.status for i in outcome.indexes] == ["ok"] and outcome.failed == 2
    record = json.loads((tmp_path / "release.json").read_text())
    assert len(record["images"]) == 7 and record["indexes"][0]["digest"] == "sha256:e"
    assert (tmp_path / f"{v['built'].name}.junit.xml").exists()


def test_the_skip_builds_every_image_made_from_another_of_ours(variants):
    """The fake above answers None for a team's image because the real check does, before it reads anything."""
    engine = create_autospec(Engine, instance=True)
    target = RegistryTarget(REGISTRY, None, create_autospec(RegistryClient, instance=True), zstd=False)
    assert skip.check(variants["team"], engine, BuildOptions(date=DATE), target, max_age=7, rebuild=False) is None
    engine.assert_not_called()
