"""The mail a platform's workers wrote (``$EYHUB_DATA_DIR/mail/*.eml``), read quickly.

The shared platform's folder holds every mail of the run (the demo's and every test's),
and tests poll it until a mail arrives. Each file appears whole (shared/mail.py writes
then renames) and never changes, so its recipient is read once and remembered, and
only the files for the address asked about are parsed.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Any

_HEADERS = BytesHeaderParser(policy=policy.default)
_PARSER = BytesParser(policy=policy.default)
#: file → its To header (files are immutable once they appear)
_recipients: dict[Path, str] = {}


def mail_folder(platform: Any) -> Path:
    """The platform's mail folder (``platform.backend.data_dir / "mail"``)."""
    return Path(platform.backend.data_dir) / "mail"


def mails_to(platform: Any, email: str) -> list[EmailMessage]:
    """Every mail to ``email`` so far, oldest first (by file name)."""
    folder = mail_folder(platform)
    if not folder.exists():
        return []
    found = []
    for path in sorted(folder.glob("*.eml")):
        if path not in _recipients:
            with path.open("rb") as fh:
                _recipients[path] = str(_HEADERS.parse(fh)["To"] or "")
        if _recipients[path] == email:
            found.append(_PARSER.parsebytes(path.read_bytes()))
    return found  # type: ignore[return-value]
