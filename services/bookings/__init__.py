"""The bookings service: bookings, waiting lists, attendance, CPD record, invites, feeds."""
