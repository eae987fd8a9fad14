"""Where a run's models came from: the run identity, the phases, and the records that refuse stale files.

A **run identity** (:func:`run_identity`) is what a run's models, logs and
results depend on: profile, backbone, image size, split, seed, archive and training run.

The **phases** (:data:`PHASES`) are the models the lessons train, each made by
one lesson and some built on an earlier one: lesson 06 fine-tunes lesson 05's
transfer model, and lesson 07's final model is the fine-tuned one or another
candidate. Lesson 08's own phases are outside the table and stand alone.

Each phase writes a **record** beside its model (:func:`identity_path`): a run
id, the identity, and the record of the phase it was built on, read when the
lesson loaded that phase's model. :func:`check_identity` compares them before
a later lesson uses the files.

A phase that trains (lesson 05's transfer phase, lesson 06's fine-tuning,
lesson 08's) writes into **unfinished** files (:func:`begin_phase`,
:func:`unfinished_path`), which :func:`finish_phase` puts in place of the last
finished ones when training ends. A run that is interrupted (a click on Stop,
a crash, a closed laptop) so leaves the last finished model, its log, its
record and the later phases' models as they were. A phase saved in one step
(the linear probe, lesson 07's final model) starts with :func:`start_clean`.

A run of a phase holds the **build folder's lock** (:mod:`helpers.locks`) from
:func:`begin_phase` to :func:`finish_phase`: a second lesson that would train
or score in the same folder meanwhile waits for it, and is told which one.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from helpers.config import Config
from helpers.errors import FlowersError
from helpers.files import write_text_atomic
from helpers.locks import hold, release


@dataclass(frozen=True)
class Phase:
    """One trained model of the course: which lesson makes it, and which phase it is built on."""

    name: str
    lesson: str
    built_on: str | None = None


#: The phases of lessons 05-07, in the order the lessons make them. The probe stands alone;
#: the transfer model, the fine-tuned one and lesson 07's final choice are built one on another.
PHASES: dict[str, Phase] = {phase.name: phase for phase in (
    Phase("probe", "05"),
    Phase("transfer", "05"),
    Phase("finetune", "06", built_on="transfer"),
    Phase("final", "07", built_on="finetune"),
)}

#: The lesson of a phase outside :data:`PHASES` (lesson 08 trains its own).
OTHER_PHASES_LESSON = "08"


def phase_lesson(phase: str) -> str:
    """The lesson that makes ``phase``'s files (``"08"`` for a phase outside :data:`PHASES`)."""
    return PHASES[phase].lesson if phase in PHASES else OTHER_PHASES_LESSON


def built_on_it(phase: str) -> list[str]:
    """The phases built on ``phase``, directly or through another one, in :data:`PHASES` order."""
    later: list[str] = []
    for other in PHASES.values():
        if other.built_on is not None and (other.built_on == phase or other.built_on in later):
            later.append(other.name)
    return later


def run_identity(cfg: Config) -> dict[str, object]:
    """What a run's models, logs, figures and results depend on: profile, backbone, image size, split, archive, run.

    The archive's md5 is the one recorded with the split on disk (``split.json``
    in :attr:`Config.split_dir`, which :mod:`helpers.data` writes). For your own
    photos, the folder and its fingerprint take the archive's place (recorded by
    :mod:`helpers.own_split`), so a changed folder is a different run. Lessons
    05-07 compare it (:func:`check_identity`) before they use what an earlier
    lesson wrote.
    """
    info = cfg.split_dir / "split.json"
    try:
        saved = json.loads(info.read_text()) if info.exists() else {}
        md5 = saved.get("archive_md5", saved.get("md5"))
    except (OSError, ValueError, AttributeError):
        saved, md5 = {}, None
    identity = {"profile": cfg.profile, "backbone": cfg.backbone, "image_size": cfg.image_size,
                "split": cfg.split, "seed": cfg.seed, "split_sizes": list(cfg.split_sizes), "archive_md5": md5,
                "training_run": cfg.run}
    if cfg.photos is not None:
        # Your own photos: the folder and the fingerprint of its photos when the split was made, not an archive.
        del identity["split_sizes"], identity["archive_md5"]
        identity.update(photos=str(cfg.photos), photos_fingerprint=saved.get("fingerprint"),
                        split_fractions=list(cfg.split_fractions))
    return identity


def model_path(cfg: Config, phase: str) -> Path:
    """The best model of ``phase`` (``probe``, ``transfer``, ``finetune``, ``final``) for this profile and backbone."""
    return _models_dir_file(cfg.build_dir, cfg.profile, cfg.backbone, phase, ".keras")


def _models_dir_file(build_dir: Path, profile: str, backbone: str, phase: str, suffix: str) -> Path:
    return Path(build_dir) / "models" / f"{phase}_{profile}_{backbone}{suffix}"


def log_path(cfg: Config, phase: str) -> Path:
    """The CSV history of ``phase`` for this profile and backbone."""
    return cfg.build_dir / "logs" / f"{phase}_{cfg.profile}_{cfg.backbone}.csv"


def predictions_path(cfg: Config) -> Path:
    """The final model's answer for every test photo (lesson 07; :mod:`helpers.predictions`), beside the logs.

    It belongs to the ``final`` phase: :func:`start_clean` retires it with that model.
    """
    return cfg.build_dir / "logs" / f"final_{cfg.profile}_{cfg.backbone}_test_predictions.csv"


def accuracy_run_dir(build_dir: Path, seed: int, run: int) -> Path:
    """The build folder ``make accuracy`` gives training run ``run`` of split ``seed``."""
    return Path(build_dir) / "accuracy" / f"seed-{seed}" / f"run-{run}"


def accuracy_run_dirs(cfg: Config) -> list[Path]:
    """The build folders of every run of ``cfg``'s seed that ``make accuracy`` made, by run number.

    They are looked for under ``cfg.build_dir``, or, when ``cfg.build_dir``
    is itself one of them (a lesson run by ``make accuracy``), beside it.
    """
    build = Path(cfg.build_dir)
    inside = (build.name.startswith("run-") and build.parent.name == f"seed-{cfg.seed}"
              and build.parent.parent.name == "accuracy")
    parent = build.parent if inside else accuracy_run_dir(build, cfg.seed, 1).parent
    found = [(int(p.name[4:]), p) for p in parent.glob("run-*") if p.name[4:].isdecimal() and p.is_dir()]
    return [p for _, p in sorted(found)]


def identity_path(cfg: Config, phase: str) -> Path:
    """The record of what ``phase``'s model and log were made from (next to the model)."""
    return model_path(cfg, phase).with_suffix(".json")


def recorded_identity(identity: object) -> object:
    """A run identity read from a record or ``results.json``: training run 1 where it predates training runs.

    Files written before the identity named the training run all came from run 1.
    """
    return {"training_run": 1, **identity} if isinstance(identity, dict) else identity


def _describe(identity: dict[str, object]) -> str:
    if identity.get("photos") is not None:
        fp = str(identity.get("photos_fingerprint"))[:8]
        return (f"the photos in {identity.get('photos')} (fingerprint {fp}...), split "
                f"{identity.get('split_fractions')} with seed {identity.get('seed')}, {identity.get('backbone')} at "
                f"{identity.get('image_size')} px, {identity.get('profile')} profile, training run "
                f"{identity.get('training_run', 1)}")
    return (f"the {identity.get('split')} split with seed {identity.get('seed')} "
            f"({identity.get('split_sizes')} per class), {identity.get('backbone')} at "
            f"{identity.get('image_size')} px, {identity.get('profile')} profile, archive md5 "
            f"{identity.get('archive_md5')}, training run {identity.get('training_run', 1)}")


def _own_files(cfg: Config, phase: str) -> list[Path]:
    """The files of ``phase``: model, log, record (and the final model's test answers)."""
    files = [model_path(cfg, phase), log_path(cfg, phase), identity_path(cfg, phase)]
    return [*files, predictions_path(cfg)] if phase == "final" else files


def _later_files(cfg: Config, phase: str) -> list[Path]:
    """The files of every phase built on ``phase``."""
    return [path for name in built_on_it(phase) for path in _own_files(cfg, name)]


def _new_record(cfg: Config, phase: str, started_from: dict[str, object] | None) -> dict[str, object]:
    base = PHASES[phase].built_on if phase in PHASES else None
    if base is not None and started_from is None:
        started_from = read_record(cfg, base) or None
    return {"phase": phase, "run": uuid.uuid4().hex, "identity": run_identity(cfg),
            "started_from": started_from if base is not None else None}


def start_clean(cfg: Config, phase: str, started_from: dict[str, object] | None = None) -> list[Path]:
    """Start ``phase`` afresh: delete its old files and those of every phase built on it; record this run.

    The later phases were built on this one's old files, so they are retired
    too (re-running lesson 05 retires lesson 06's model). Their numbers in
    ``results.json``, and lesson 07's choice, are retired with them:
    :mod:`helpers.results` keeps only numbers whose phase records are still
    the ones they were measured with. The phase's record (:func:`identity_path`)
    then names this run's settings and split, and for a phase built on an
    earlier one, the earlier one's record, so that :func:`check_identity` can
    refuse a model of another split or run. Returns the files that were deleted.

    For a phase saved in one step right after it (the probe, the final
    model); a phase that trains uses :func:`begin_phase` and :func:`finish_phase`,
    which keep the last finished files until the new ones are complete.
    ``started_from`` is as for :func:`begin_phase`: the record of the model it
    is built on, read when the lesson loaded that model.

    Raises:
        FlowersError: when ``started_from`` is no longer the record on disk
            (its lesson ran again since); nothing is deleted.
    """
    check_still_current(cfg, phase, started_from)
    gone = [p for p in (*_own_files(cfg, phase), *_later_files(cfg, phase)) if p.exists()]
    for path in gone:
        path.unlink()
    path = identity_path(cfg, phase)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(_new_record(cfg, phase, started_from or None), indent=2) + "\n")
    return [p for p in gone if p != path]


def unfinished_path(path: Path) -> Path:
    """Where an unfinished run writes ``path`` (``transfer_x.keras`` -> ``transfer_x.unfinished.keras``)."""
    return path.with_name(f"{path.stem}.unfinished{path.suffix}")


@dataclass(frozen=True)
class PhaseFiles:
    """The unfinished files a new run of a phase writes: give them to ``ModelCheckpoint`` and ``CSVLogger``."""

    model: Path
    log: Path


def unfinished_files(cfg: Config, phase: str) -> PhaseFiles:
    """The model and log a run of ``phase`` writes until :func:`finish_phase` puts them in place."""
    return PhaseFiles(unfinished_path(model_path(cfg, phase)), unfinished_path(log_path(cfg, phase)))


def interrupted_note(cfg: Config, phase: str) -> str | None:
    """One sentence when a run of ``phase`` started and did not finish (or is still running); else ``None``."""
    unfinished = unfinished_path(identity_path(cfg, phase))
    if not unfinished.exists():
        return None
    finished = model_path(cfg, phase)
    since = (f"the one finished on {time.strftime('%Y-%m-%d %H:%M', time.localtime(finished.stat().st_mtime))}"
             if finished.exists() else "none: no run of it has finished yet")
    return (f"A run of lesson {phase_lesson(phase)}'s {phase} phase started and did not finish (interrupted, "
            f"or still running); the {phase} model in use is the last finished one, {since}.")


def check_still_current(cfg: Config, phase: str, started_from: dict[str, object] | None) -> None:
    """Refuse to build ``phase`` on a loaded model whose lesson has since put a new one in place.

    ``started_from`` is the record read when the lesson loaded the model
    (``None``: nothing was loaded; there is nothing to check).

    Raises:
        FlowersError: naming the lesson that ran again and the lesson to run again.
    """
    if not isinstance(started_from, dict) or not started_from:
        return
    base = str(started_from.get("phase", ""))
    if read_record(cfg, base).get("run") != started_from.get("run"):
        raise FlowersError(f"The {base} model this lesson loaded has been replaced or retired since (lesson "
                           f"{phase_lesson(base)} or an earlier one ran again), so a {phase} model built on it "
                           f"would match nothing on disk: run lesson {phase_lesson(phase)} again from the top.")


def begin_phase(cfg: Config, phase: str, started_from: dict[str, object] | None = None) -> PhaseFiles:
    """Start a run of ``phase`` in unfinished files; the last finished ones stay until :func:`finish_phase`.

    ``started_from`` is the record (:func:`read_record`) of the model this run
    builds on, read when the lesson loaded it (lesson 06: the transfer model
    that :func:`helpers.training.phase_model_help` yields); without it, the
    record on disk now. Files left by an interrupted run are replaced, and a
    sentence says so.

    From here to :func:`finish_phase`, this process holds the build folder's
    lock (:func:`helpers.locks.hold`); while another lesson holds it, this one
    first waits, naming it.

    Raises:
        FlowersError: when the other lesson holds the lock too long, or when
            ``started_from`` is no longer the record on disk (its lesson ran
            again since it was loaded): the lesson to run again is named.
    """
    hold(cfg.build_dir, f"lesson {phase_lesson(phase)}, training its {phase} phase")
    try:
        check_still_current(cfg, phase, started_from)
        note = interrupted_note(cfg, phase)
        if note is not None:
            print(note, "This run starts afresh.")
        files = unfinished_files(cfg, phase)
        for path in (files.model, files.log):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
        write_text_atomic(unfinished_path(identity_path(cfg, phase)),
                          json.dumps(_new_record(cfg, phase, started_from or None), indent=2) + "\n")
    except BaseException:   # refused, a full disk, a click on Stop: no run started, so nobody need wait
        release(cfg.build_dir)
        raise
    return files


def finish_phase(cfg: Config, phase: str) -> list[Path]:
    """Put the run :func:`begin_phase` started in place of the last finished one; retire the phases built on it.

    The model, the log and, last, the record replace the old ones
    (``os.replace``: each one at once). The phases built on this one were
    built on its old model, so their files are deleted, as :func:`start_clean`
    does. Returns those deleted files.

    Either way, this process gives back the build folder's lock.

    Raises:
        FlowersError: when no run was started, or it saved no model (every
            validation loss was NaN, say); the last finished files are kept.
            Also, after putting the new files in place, when the model this
            run was built on was trained again while it ran: the lesson to
            run again is named, and later lessons refuse the mixed lineage.
    """
    try:
        return _finish_phase(cfg, phase)
    finally:
        release(cfg.build_dir)


def _finish_phase(cfg: Config, phase: str) -> list[Path]:
    record_file = unfinished_path(identity_path(cfg, phase))
    record = _read_record_file(record_file)
    files = unfinished_files(cfg, phase)
    lesson = phase_lesson(phase)
    if not record:
        raise FlowersError(f"No unfinished run of the {phase} phase to finish in {record_file.parent}: run the "
                           f"training cells of lesson {lesson} from the top.")
    if not files.model.exists():
        raise FlowersError(f"This run of the {phase} phase saved no model (no epoch had a usable validation "
                           f"loss); the last finished {phase} files are kept. Run lesson {lesson} again.")
    later = [p for p in _later_files(cfg, phase) if p.exists()]
    for path in later:
        path.unlink()
    os.replace(files.model, model_path(cfg, phase))
    if files.log.exists():
        os.replace(files.log, log_path(cfg, phase))
    os.replace(record_file, identity_path(cfg, phase))
    base = record.get("started_from")
    if isinstance(base, dict):
        current = read_record(cfg, str(base.get("phase", "")))
        if current.get("run") != base.get("run"):
            raise FlowersError(f"Lesson {phase_lesson(str(base.get('phase')))} trained a new {base.get('phase')} "
                               f"model while this run of the {phase} phase was training on the earlier one, so "
                               f"the two no longer belong together: run lesson {lesson} again.")
    return later


def read_record(cfg: Config, phase: str) -> dict[str, object]:
    """The record :func:`start_clean` wrote for ``phase`` (its run id, identity and origin); ``{}`` if none."""
    return _read_record_file(identity_path(cfg, phase))


def _read_record_file(path: Path) -> dict[str, object]:
    """A record file's contents; ``{}`` when it is missing, unreadable or not a JSON object."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def phase_runs(cfg: Config) -> dict[str, str | None]:
    """The run id of each phase of :data:`PHASES` on disk now (``None`` where it has no record)."""
    return phase_runs_in(cfg.build_dir, cfg.profile, cfg.backbone)


def phase_runs_in(build_dir: Path, profile: str, backbone: str) -> dict[str, str | None]:
    """:func:`phase_runs` for a build folder, profile and backbone (what a tool knows of a run)."""
    return {name: _read_record_file(_models_dir_file(build_dir, profile, backbone, name, ".json")).get("run")
            for name in PHASES}


def check_identity(cfg: Config, phase: str) -> None:
    """Refuse ``phase``'s files when they were made from another split, setting or run.

    Raises:
        FlowersError: naming the difference and the lesson to run again.
    """
    lesson = phase_lesson(phase)
    path = identity_path(cfg, phase)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        raise FlowersError(f"The {phase} files in {path.parent} have no readable record of the split and "
                           f"settings they were made with, so they could have seen this run's test photos. "
                           f"Run lesson {lesson} again.") from None
    saved, now = recorded_identity(record.get("identity", {})), run_identity(cfg)
    if saved != now:
        changed = ", ".join(f"{key} {saved.get(key)!r} -> {now[key]!r}" for key in now if saved.get(key) != now[key])
        why = ("It is another training run of this split, so the lessons' numbers would mix two runs"
               if [key for key in now if saved.get(key) != now[key]] == ["training_run"]
               else "Its training photos may be this run's test photos")
        raise FlowersError(f"The {phase} model was trained on {_describe(saved)}; this run uses "
                           f"{_describe(now)} ({changed}). {why}: run lesson {lesson} again.")
    base = record.get("started_from")
    if base is not None:
        current = read_record(cfg, base.get("phase", "")) or None
        if current is None or current.get("run") != base.get("run"):
            raise FlowersError(f"The {phase} model was built on an earlier {base.get('phase')} model, which "
                               f"has been trained again since: run lesson {lesson} again.")
