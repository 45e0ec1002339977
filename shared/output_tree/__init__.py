"""The output tree ``<output>/<YYYYMMDD_HHMMSS>/<clip>`` (and ``<output>/checks/<check>/<clip>``).

One module a job: ``names`` (which names are clips, pictures, cycle and check folders; where a
path points), ``root`` (the output folder opened and checked once per operation, folders and
files opened without following a symlink), ``listing`` (cycles, clips and pictures, with the
scan cache), ``reading`` (a clip, report or picture opened for serving), ``deleting`` (a clip
or a cycle removed), ``urls`` (where the API serves them). The names below are what the API
and the recorder use.
"""
from shared.output_tree.deleting import delete_cycle, delete_video, require_cycle
from shared.output_tree.listing import (ScanCache, cycle_record, latest_thumbnail, list_cycles,
                                        list_videos, page_of_cycles, page_of_videos,
                                        thumbnail_urls)
from shared.output_tree.names import (CHECK_NAME_RE, CHECKS_FOLDER, CHECKS_PREFIX, clip_location,
                                      is_check_folder_name, is_clip_folder, is_video_name,
                                      split_location, video_location)
from shared.output_tree.reading import open_clip, open_in_cycle, open_in_cycle_at, read_picture
from shared.output_tree.root import OpenRoot, OutputDir, cycle_names, cycle_names_in, opened_root
from shared.output_tree.urls import CLIPS_URL, clip_url, contact_sheet_url, thumbnail_url

__all__ = [
    "CHECK_NAME_RE", "CHECKS_FOLDER", "CHECKS_PREFIX", "CLIPS_URL", "OpenRoot", "OutputDir",
    "ScanCache", "clip_location", "clip_url", "contact_sheet_url", "cycle_names",
    "cycle_names_in", "cycle_record", "delete_cycle", "delete_video", "is_check_folder_name",
    "is_clip_folder", "is_video_name",
    "latest_thumbnail", "list_cycles", "list_videos", "open_clip", "open_in_cycle",
    "open_in_cycle_at", "opened_root", "page_of_cycles", "page_of_videos", "read_picture",
    "require_cycle", "split_location", "thumbnail_url", "thumbnail_urls", "video_location",
]
