# The pipeline's Airflow image: the official image plus the pinned project dependencies.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.lock /opt/airflow/requirements.lock
RUN pip install --no-cache-dir -r /opt/airflow/requirements.lock
