"""``GET /calendar/mentoring/{token}.ics``: the caseload subscription calendar apps poll.

The token in the path is the only credential (calendar apps cannot send headers), so an
unknown or revoked token, or a deactivated owner's, is a plain 404, and the kernel
scrubs the token from access logs. An unchanged feed is answered 304 from its ETag
before the calendar is written.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from services.mentoring import meetings
from services.mentoring.meeting_models import CaseloadFeed
from shared import feeds as shared_feeds
from shared.web import current_db, runtime

bp = Blueprint(
    "mentoring_calendar_feeds",
    __name__,
    url_prefix="/calendar/mentoring",
    description="Caseload calendar subscriptions (the URL from "
    "POST /api/mentoring/calendar-feeds).",
)


@bp.route("/<token>.ics")
class CaseloadCalendar(MethodView):
    @bp.response(200, content_type="text/calendar")
    @bp.alt_response(304, description="Unchanged since the ETag / date sent.")
    @bp.alt_response(404, description="Unknown or revoked feed, or its owner is deactivated.")
    def get(self, token: str) -> Any:
        """Your mentoring meetings (iCalendar, METHOD:PUBLISH); revalidate with
        If-None-Match."""
        settings = runtime().settings
        db = current_db()
        with db.read() as s:
            feed = shared_feeds.live_feed(s, CaseloadFeed, token)
            if feed is None or not meetings.owner_still_entitled(db, feed):
                raise shared_feeds.not_found()
            view = meetings.feed_rows(s, settings, feed)
        if shared_feeds.unchanged(view.etag, view.last_modified):
            return shared_feeds.not_modified(view.etag)
        items = meetings.feed_items(settings, feed.user_id, view.rows)
        return shared_feeds.calendar_response(
            shared_feeds.render(items, meetings.FEED_NAME),
            view.etag,
            view.last_modified,
            filename="eyhub-mentoring.ics",
        )
