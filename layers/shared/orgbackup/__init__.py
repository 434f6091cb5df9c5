"""orgbackup: organization-wide AWS Backup on autopilot for AWS Control Tower landing zones.

Domain logic and AWS adapters shared by every Lambda function (shipped as the shared layer) and by the
`orgbackup` command line. Nothing here creates AWS clients or reads the environment at import time.
"""

__version__ = "0.1.0"
