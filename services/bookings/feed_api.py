"""``GET /calendar/feeds/{token}.ics``: the subscription URL calendar apps poll.

The token in the path is the only credential (calendar apps cannot send headers), so
an unknown or revoked token is a plain 404, and the kernel scrubs it from access logs.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from services.bookings import feeds
from services.bookings.models import CalendarFeed
from shared import feeds as shared_feeds
from shared.web import current_db, runtime

bp = Blueprint(
    "calendar_feeds",
    __name__,
    url_prefix="/calendar/feeds",
    description="Private calendar subscriptions (the URL from POST /api/bookings/calendar-feeds).",
)


@bp.route("/<token>.ics")
class Feed(MethodView):
    @bp.response(200, content_type="text/calendar")
    @bp.alt_response(304, description="Unchanged since the ETag / date sent.")
    @bp.alt_response(404, description="Unknown or revoked feed.")
    def get(self, token: str) -> Any:
        """The feed (iCalendar, METHOD:PUBLISH); revalidate with If-None-Match."""
        settings = runtime().settings
        with current_db().read() as s:
            feed = shared_feeds.live_feed(s, CalendarFeed, token)
            if feed is None or not feeds.owner_still_entitled(current_db(), feed):
                raise shared_feeds.not_found()
            # Calendar apps poll every few minutes: answer an unchanged feed from its
            # version alone, without loading its items or writing the calendar.
            version = feeds.feed_version(s, settings, feed)
            if shared_feeds.unchanged(version.etag, version.last_modified):
                return shared_feeds.not_modified(version.etag)
            if feed.scope == "hub":
                assert feed.hub_id is not None
                items = feeds.hub_items(s, settings, feed.hub_id)
            else:
                items = feeds.my_items(s, settings, feed.user_id)
            name = feeds.feed_name(feed, s)
        return shared_feeds.calendar_response(
            shared_feeds.render(items, name),
            version.etag,
            version.last_modified,
            filename="eyhub.ics",
        )
