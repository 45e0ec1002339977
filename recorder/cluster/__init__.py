"""Cluster mode (RQ on Redis): the recorder plans and enqueues, workers on many hosts record.

Imported only when config.json has a ``cluster`` section: single-box mode imports
neither ``rq`` nor ``redis``. The parts: link (the Redis keys and the job spec),
remote_task (the coordinator's view of one task), task_job (what a worker runs),
coordinator_lock (one coordinator at a time), and recorder/worker.py (the worker pool).
"""
