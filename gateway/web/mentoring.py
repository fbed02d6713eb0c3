"""Pages: mentoring (issue 14). Routes are added to the shared blueprint (base.bp)."""

from __future__ import annotations
