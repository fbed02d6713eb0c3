// Parse an iCalendar file with ical.js (the parser inside Thunderbird) and print what it
// understood as JSON, so Python tests can check our files the way a real client reads them.
//
//   node tests/js/parse_ics.mjs [file.ics]     (reads stdin when no file is given)
//
// Times are resolved only through the VTIMEZONEs in the file itself: ical.js knows no
// Olson zones, and a TZID it cannot resolve silently becomes a floating time (read as
// UTC). Each time therefore reports the zone ical.js actually used ("floating" when it
// fell back), and the UTC instant ical.js computed from it.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

// RFC 5545 §3.8.8.2 makes X- properties TEXT (with , ; and \ escaped), but ical.js reads
// properties it does not know as raw "unknown" values; decode the name like a client would.
ICAL.design.icalendar.property["x-wr-calname"] = { defaultType: "text" };

const text = readFileSync(process.argv[2] ?? 0, "utf8");
const jcal = ICAL.parse(text);
if (!Array.isArray(jcal) || jcal[0] !== "vcalendar") {
  throw new Error("expected exactly one VCALENDAR");
}
const calendar = new ICAL.Component(jcal);

// Register the file's own zones before any value is decoded (values decode lazily).
for (const vtz of calendar.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtz);
}

function upperKeys(params) {
  const out = {};
  for (const [k, v] of Object.entries(params)) {
    out[k.toUpperCase()] = v;
  }
  return out;
}

function address(prop) {
  if (!prop) {
    return null;
  }
  const [, params, , value] = prop.toJSON();
  return { value, params: upperKeys(params) };
}

function time(comp, name) {
  const prop = comp.getFirstProperty(name);
  if (!prop) {
    return null;
  }
  const t = prop.getFirstValue();
  const zone = t.zone === ICAL.Timezone.localTimezone ? "floating" : t.zone.tzid;
  return {
    utc: t.convertToZone(ICAL.Timezone.utcTimezone).toString(),
    local: t.toString(),
    tzid: prop.getParameter("tzid") ?? null,
    zone,
    utc_offset_seconds: t.utcOffset(),
  };
}

function text1(comp, name) {
  const v = comp.getFirstPropertyValue(name);
  return v === null || v === undefined ? null : String(v);
}

const timezones = calendar.getAllSubcomponents("vtimezone").map((vtz) => ({
  tzid: vtz.getFirstPropertyValue("tzid"),
  observances: vtz.getAllSubcomponents().map((obs) => ({
    kind: obs.name,
    dtstart: String(obs.getFirstPropertyValue("dtstart")),
    rrule: obs.hasProperty("rrule") ? obs.getFirstPropertyValue("rrule").toString() : null,
    rdate_count: obs.getAllProperties("rdate").length,
    tzname: obs.getFirstPropertyValue("tzname"),
    offset_from: obs.getFirstPropertyValue("tzoffsetfrom").toString(),
    offset_to: obs.getFirstPropertyValue("tzoffsetto").toString(),
  })),
}));

const events = calendar.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  const start = time(vevent, "dtstart");
  const end = time(vevent, "dtend");
  return {
    uid: event.uid,
    summary: event.summary,
    description: event.description,
    location: event.location,
    url: text1(vevent, "url"),
    sequence: event.sequence,
    status: text1(vevent, "status"),
    // ICAL.Event's own view of the instants, which must agree with the property's.
    start: event.startDate.convertToZone(ICAL.Timezone.utcTimezone).toString(),
    end: event.endDate.convertToZone(ICAL.Timezone.utcTimezone).toString(),
    tzid: start?.tzid ?? null,
    dtstart: start,
    dtend: end,
    dtstamp: time(vevent, "dtstamp")?.utc ?? null,
    last_modified: time(vevent, "last-modified")?.utc ?? null,
    organizer: address(vevent.getFirstProperty("organizer")),
    attendees: vevent.getAllProperties("attendee").map(address),
    categories: vevent.getAllProperties("categories").flatMap((p) => p.getValues()),
  };
});

const refresh = calendar.getFirstProperty("refresh-interval");
const out = {
  version: text1(calendar, "version"),
  prodid: text1(calendar, "prodid"),
  calscale: text1(calendar, "calscale"),
  method: text1(calendar, "method"),
  calname: text1(calendar, "x-wr-calname"),
  refresh_interval: refresh
    ? { value: String(refresh.getFirstValue()), type: refresh.type }
    : null,
  timezones,
  events,
};
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
