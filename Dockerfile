# Image for docker-compose.yaml: the official Airflow image (which already carries the FAB auth
# manager and the Celery, PostgreSQL and Redis providers) with this project and its `celery` extra
# installed against the project's lock, so the image runs the versions the tests ran.
# Build: docker-compose build
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 pyproject.toml README.md constraints.txt /opt/os-migrate/
COPY --chown=airflow:0 src /opt/os-migrate/src
RUN pip install --no-cache-dir "/opt/os-migrate[celery]" -c /opt/os-migrate/constraints.txt
