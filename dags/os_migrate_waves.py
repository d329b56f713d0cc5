"""
### OS Migrate: scheduled migration waves

One DAG per wave of the wave plan named by `$OS_MIGRATE_WAVE_PLAN` (a YAML file, or a directory of
them; see README "Migration waves"): DAG id `os_migrate_wave_<name>`, scheduled at the wave's
start (a date-time, a cron expression, or when every tenant's staged data is updated). No plan
set: no DAG. An invalid plan shows as this file's import error, every problem with file:line.
"""

from __future__ import annotations

import os

from os_migrate_airflow.waves import wave_dags

#: Environment variable naming the wave plan (file or directory); read when the file is parsed.
PLAN_ENV = "OS_MIGRATE_WAVE_PLAN"

globals().update(wave_dags(os.environ.get(PLAN_ENV)))
