"""The coverage report's objects in the report bucket (through the S3 adapter, ``orgbackup.aws.s3``).

Each run writes ``<prefix>latest.json`` and ``<prefix>latest.html`` (what people open) and a dated copy of both
under ``<prefix>history/`` (the bucket's lifecycle rule expires them). The previous ``latest.json`` is what the next
run compares with, to say what got worse.
"""

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from orgbackup.aws import s3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LATEST_JSON: Final = "latest.json"
LATEST_HTML: Final = "latest.html"
HISTORY: Final = "history/"


@dataclass(frozen=True, slots=True)
class ReportStore:
    client: "S3Client"
    bucket: str
    prefix: str = "coverage/"

    def previous(self) -> dict[str, Any] | None:
        """The last report's JSON, or None when there is none yet."""
        body = s3.read(self.client, self.bucket, self.prefix + LATEST_JSON)
        if body is None:
            return None
        document = json.loads(body)
        return document if isinstance(document, dict) else None

    def save(self, stamp: str, document: dict[str, Any], page: str) -> dict[str, str]:
        """Write the report (history first, then latest); returns the keys written."""
        data = json.dumps(document, indent=2, sort_keys=False).encode()
        html = page.encode()
        keys = {
            "history_json": f"{self.prefix}{HISTORY}{stamp}.json",
            "history_html": f"{self.prefix}{HISTORY}{stamp}.html",
            "json": self.prefix + LATEST_JSON,
            "html": self.prefix + LATEST_HTML,
        }
        for name, key in keys.items():
            is_page = name.endswith("html")
            body, content_type = (html, "text/html; charset=utf-8") if is_page else (data, "application/json")
            s3.write(self.client, self.bucket, key, body, content_type)
        return keys

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
