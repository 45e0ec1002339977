"""The names of the files the recorder makes beside a clip while it records and remuxes it."""
from __future__ import annotations

from shared.atomic import temp_target


PART_SUFFIX = ".part"
WORK_PREFIX = "."
TAG_PREFIX = ".tag."
# Starts a cluster retry's work file; a clip's own work file never starts so (clip names
# never start with ".").
ATTEMPT_PREFIX = WORK_PREFIX + ".try"
THUMBNAIL_SUFFIX = ".jpg"
FIGURES_SUFFIX = ".fig.tmp"
# The blur figures of the thumbnails' keyframes (no longer than the retag name's additions,
# so the longest clip name allowed stays as it was).
BLUR_FIGURES_SUFFIX = ".blur.tmp"
WORK_FIGURES_SUFFIXES = (FIGURES_SUFFIX, BLUR_FIGURES_SUFFIX)
# Every camera's thumbnail in a grid, in each cycle folder (README "Picture checks"): this
# file holds the first CONTACT_SHEET_PAGE_TILES cameras, ``contact_sheet_2.jpg``… the next.
CONTACT_SHEET = "contact_sheet.jpg"
CONTACT_SHEET_PAGE_TILES = 500
MAX_CONTACT_SHEET_PAGES = 999_999  # more than any config's cameras could fill
_SHEET_STEM, _SHEET_SUFFIX = "contact_sheet", ".jpg"
# ext4, xfs, btrfs… refuse a longer file name (ENAMETOOLONG).
MAX_NAME_BYTES = 255


def work_name(clip_name: str) -> str:
    """The hidden file ffmpeg records into (``.cam.mp4.part``); renamed to the clip when kept."""
    return WORK_PREFIX + clip_name + PART_SUFFIX


def attempt_name(work_file_name: str, attempt: int) -> str:
    """The work file ``work_file_name`` (one of a clip's hidden names) of a cluster job's
    ``attempt``: the first one's is the name itself, a retry's its own (``..try2`` before it:
    ``..try2.cam.mp4.part``, the suffix stays last for ffmpeg's muxer), so a dead attempt's
    half-written file is never written into again, nor taken for the live attempt's."""
    name = f"{ATTEMPT_PREFIX}{attempt}{work_file_name}"
    if attempt <= 1 or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return work_file_name  # a name at the limit: ffmpeg overwrites the dead one's
    return name


def attempt_work_name(clip_name: str, attempt: int) -> str:
    """The file ffmpeg records into in a cluster job's ``attempt`` (:func:`attempt_name`)."""
    return attempt_name(work_name(clip_name), attempt)


def is_attempt_leftover(work_file_name: str) -> bool:
    """True for a retry's work file (its clip's, thumbnail's or figures): never a clip of its
    own, nor a clip's thumbnail (no clip name starts with ".")."""
    return work_file_name.startswith(ATTEMPT_PREFIX)


def retag_name(clip_name: str) -> str:
    """The hidden file an H.265 clip is remuxed into (``.tag.cam.mp4.part``)."""
    return TAG_PREFIX + clip_name + PART_SUFFIX


def thumbnail_name(clip_name: str) -> str:
    """The clip's thumbnail, hidden beside it (``.cam.mp4.jpg``): listings skip it, retention
    and the deletion of a cycle take it with the folder."""
    return WORK_PREFIX + clip_name + THUMBNAIL_SUFFIX


def thumbnail_work_name(clip_name: str) -> str:
    """The file ffmpeg keeps the thumbnail's keyframe in while it records (not ``.part``: the recovery
    of work files must not take it for a clip)."""
    return thumbnail_name(clip_name) + ".tmp"


def figures_work_name(clip_name: str) -> str:
    """The file ffmpeg writes the picture checks' figures into while it records (read and
    removed at the clip's end; a killed recorder's is removed by the recovery)."""
    return WORK_PREFIX + clip_name + FIGURES_SUFFIX


def blur_figures_work_name(clip_name: str) -> str:
    """The file ffmpeg writes the thumbnails' blur figures into (handled as the figures file is)."""
    return WORK_PREFIX + clip_name + BLUR_FIGURES_SUFFIX


def contact_sheet_name(page: int) -> str:
    """The file of the contact sheet's ``page`` (1-based): ``contact_sheet.jpg``,
    ``contact_sheet_2.jpg``…"""
    return CONTACT_SHEET if page == 1 else f"{_SHEET_STEM}_{page}{_SHEET_SUFFIX}"


def is_contact_sheet_temp(name: str) -> bool:
    """A page's temp file while shared/atomic.py writes it (``.contact_sheet_2.jpg.<rnd>.tmp``:
    mkstemp's random part has no dot), never a camera's work file (``contact_sheet_x.mp4`` is
    a clip name a config may use)."""
    target = temp_target(name)
    return target is not None and contact_sheet_page(target) is not None


def contact_sheet_page(name: str) -> int | None:
    """The page a contact sheet's file name holds (:func:`contact_sheet_name`); None for any
    other name (``contact_sheet_1.jpg`` and ``contact_sheet_02.jpg`` among them)."""
    if name == CONTACT_SHEET:
        return 1
    prefix = _SHEET_STEM + "_"
    if not (name.startswith(prefix) and name.endswith(_SHEET_SUFFIX)):
        return None
    digits = name[len(prefix):-len(_SHEET_SUFFIX)]
    if not (digits.isascii() and digits.isdigit()) or digits[0] == "0" \
            or len(digits) > len(str(MAX_CONTACT_SHEET_PAGES)):  # int() of no huge string
        return None
    return int(digits) if 2 <= int(digits) <= MAX_CONTACT_SHEET_PAGES else None


def clip_of_thumbnail_work(name: str) -> str | None:
    """The clip a thumbnail work file (``.cam.mp4.jpg.tmp``) belongs to; None for other names,
    a retry's thumbnail work file among them (its clip is never recovered)."""
    suffix = thumbnail_work_name("")[1:]  # ".jpg.tmp"
    if (name.startswith(WORK_PREFIX) and not is_attempt_leftover(name) and name.endswith(suffix)
            and len(name) > len(suffix) + 1):
        return name[len(WORK_PREFIX):-len(suffix)]
    return None


def attempt_work_names(clip_name: str, attempt: int) -> tuple[str, ...]:
    """Every work file of a cluster job's ``attempt``: its clip's, its thumbnail's and its
    figures files (what a dead attempt may leave behind)."""
    return tuple(attempt_name(name, attempt) for name in (
        work_name(clip_name), thumbnail_work_name(clip_name), figures_work_name(clip_name),
        blur_figures_work_name(clip_name)))


def derived_names(clip_name: str) -> tuple[str, ...]:
    """Every file name the recorder makes from a clip's name."""
    return (work_name(clip_name), retag_name(clip_name), thumbnail_work_name(clip_name),
            figures_work_name(clip_name), blur_figures_work_name(clip_name))


# The longest clip name whose derived names still fit the file system's limit.
MAX_CLIP_NAME_BYTES = MAX_NAME_BYTES - max(len(name.encode("utf-8")) for name in derived_names(""))
