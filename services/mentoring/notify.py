"""What mentee and mentor are told (mail, queued in the same transaction as the change).

A proposal and an acceptance each mail both people; bodies are the templates in
``services/mentoring/templates/mail/`` (text and HTML, sharing the HTML ``_base``). A
person whose address we do not know (a mentor profile written by a lead before the
identity replica knew the account) is skipped, not an error.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.mentoring.models import Match, MentorProfile
from shared.config import Settings
from shared.mail import MailTemplates, new_message, queue_mail

#: ``services/mentoring/templates/mail/``: one ``.txt`` and one ``.html`` per mail.
TEMPLATES = MailTemplates("services.mentoring")


def _send(
    s: Session,
    settings: Settings,
    *,
    to: str | None,
    subject: str,
    template: str,
    name: str | None,
    **context: object,
) -> None:
    if not to:
        return
    body = TEMPLATES.render(template, name=name, **context)
    queue_mail(s, new_message(settings, to=to, subject=subject, text=body.text, html=body.html))


def _context(match: Match, mentor: MentorProfile | None) -> dict[str, object]:
    request = match.request
    return {
        "mentor_name": (mentor.name if mentor else "") or "your mentor",
        "mentee_name": request.mentee_name or "a practitioner",
        "topics": ", ".join(t.replace("_", " ") for t in request.topics),
        "format": request.format.replace("_", " "),
        "setting_name": request.setting_name,
        "goals": request.goals,
    }


def proposed(s: Session, settings: Settings, match: Match, mentor: MentorProfile | None) -> None:
    """A run proposed ``mentor`` for the request: the mentee waits, the mentor decides."""
    context = _context(match, mentor)
    request = match.request
    _send(
        s,
        settings,
        to=request.mentee_email,
        subject="A mentor has been proposed for you",
        template="proposed_mentee",
        name=request.mentee_name,
        **context,
    )
    _send(
        s,
        settings,
        to=mentor.email if mentor else None,
        subject=f"New mentee proposed: {context['mentee_name']}",
        template="proposed_mentor",
        name=mentor.name if mentor else None,
        **context,
    )


def accepted(s: Session, settings: Settings, match: Match, mentor: MentorProfile | None) -> None:
    """The mentor accepted: both can start."""
    context = _context(match, mentor)
    request = match.request
    _send(
        s,
        settings,
        to=request.mentee_email,
        subject=f"Your mentoring with {context['mentor_name']} has started",
        template="accepted_mentee",
        name=request.mentee_name,
        mentor_email=(mentor.email if mentor else "") or "",
        **context,
    )
    _send(
        s,
        settings,
        to=mentor.email if mentor else None,
        subject=f"Mentoring confirmed: {context['mentee_name']}",
        template="accepted_mentor",
        name=mentor.name if mentor else None,
        mentee_email=request.mentee_email,
        **context,
    )
