# Image for docker-compose.yaml: the official Airflow image with this project installed against
# the project's lock (constraints.txt). Build: docker-compose build
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 pyproject.toml README.md constraints.txt /opt/os-migrate/
COPY --chown=airflow:0 src /opt/os-migrate/src
RUN pip install --no-cache-dir /opt/os-migrate -c /opt/os-migrate/constraints.txt \
        apache-airflow-providers-fab apache-airflow-providers-celery psycopg2-binary redis
