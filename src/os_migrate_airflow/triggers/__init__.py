"""Triggers of the OS Migrate provider (run in the Airflow triggerer)."""
