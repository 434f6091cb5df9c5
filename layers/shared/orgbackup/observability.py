"""The one place that builds the Powertools logger and metrics.

Handlers use a fixed decorator order: ``@metrics.log_metrics`` outermost, then ``@logger.inject_lambda_context``.
Tracer is deliberately absent: it adds about 200 ms to a cold start for traces nobody has asked for yet.
"""

from aws_lambda_powertools import Logger, Metrics

SERVICE = "orgbackup"
METRICS_NAMESPACE = "OrgBackup"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
