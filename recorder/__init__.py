"""The recorder daemon: patrol cycles that record every RTSP stream with ffmpeg.

One stream from config.json to the API's answer, hop by hop (file::function):
 1. recorder/daemon.py::Daemon.run waits (pipes, stop signal, next due time), then Daemon.step.
 2. recorder/config_watch.py::ConfigWatch.poll reads it: shared/config_file.py::load_config.
 3. recorder/cycle_launcher.py::CycleLauncher.open, when a cycle is due, makes its folder
    (recorder/cycle_folder.py::create_cycle_folder) and plans it (recorder/planner.py::plan_cycle).
 4. recorder/cycle.py::Cycle.tick starts the task at its offset, within the concurrency cap.
 5. recorder/recording.py::Recording.start: recorder/ffmpeg_command.py::build_argv, then
    recorder/processes.py::ProcessRunner.spawn starts ffmpeg (own session, niced, dies with us).
 6. recorder/ffmpeg_output.py::ProgressParser.feed, StderrLog.feed: Recording.on_readable's input.
 7. recorder/recording.py::Recording.tick runs the watchdogs; once ffmpeg exits it keeps the
    clip (recorder/clip_files.py::finalize_clip) and asks recorder/outcome.py::classify.
 8. shared/task_record.py::build is the task's record; recorder/status_snapshot.py::build_status
    puts it in the status file that recorder/status_publisher.py::StatusPublisher.publish writes.
 9. recorder/reports.py::write_reports, from CycleLauncher.close, writes the cycle's reports.
10. app/scheduler.py::list_tasks answers GET /api/tasks from shared/status_file.py::read_status.
11. app/results.py::list_videos answers GET /api/videos via shared/output_tree/listing.py::list_videos.
"""
