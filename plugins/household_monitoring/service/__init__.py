"""Running the pipeline as a service: the Airflow stack, the push trigger and the alerts.

- ``stack``: start, report and stop api-server, scheduler, dag-processor, triggerer and
  Celery workers on this machine (loopback only), secrets generated once into ``var/``.
- ``push``: a department's push on NATS JetStream, the event trigger the push DAG watches.
- ``alerts``: the data engineer's alerts (failed task, held-back batch, stale source) by
  email and webhook through ``household_monitoring.notify``.
"""
